# Shared by the launch scripts: system packages, the release build, and the BLAS environment.
# Source it; it defines functions and changes nothing by itself.

DISCERN_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# libdnnl-dev: oneDNN, the bf16 GEMM (docs/performance.md, "bf16 GEMM library"). libarchive-dev and
# libwebp-dev: webdataset tar shards and their WebP images (docs/data.md, "Webdataset import").
DISCERN_APT_PACKAGES=(libopenmpi-dev openmpi-bin libopenblas-dev libdnnl-dev libhdf5-dev zlib1g-dev libarchive-dev libwebp-dev pkg-config)
# The Slurm test's one-node cluster (launch/slurm-local); only the tests need them.
DISCERN_TEST_APT_PACKAGES=(slurm-wlm munge)

say() { printf '[discern] %s\n' "$*" >&2; }

# Installs whichever of the native libraries (and of the extra packages named) are missing
# (Debian/Ubuntu). Needs root or sudo only when something is actually missing.
discern_install_packages() {
    local missing=()
    for package in "${DISCERN_APT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null; then sudo="sudo"; else
            say "missing system packages: ${missing[*]}"
            say "install them as root: apt-get install -y ${missing[*]}"
            return 1
        fi
    fi
    say "installing system packages: ${missing[*]}"
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Prints the checkpoint a run directory's `latest` names, after checking it: `discern train`
# repairs the pointer at every start, but a launcher must not evaluate or export a stale step
# (a kill between a checkpoint's rename and the pointer update leaves `latest` one step behind).
discern_latest_checkpoint() {
    local dir="$1" name newest
    name="$(cat "$dir/latest" 2>/dev/null)" || { say "$dir/latest is missing: that run wrote no checkpoint"; return 1; }
    newest="$(find "$dir" -maxdepth 1 -name 'step-*.h5' -printf '%f\n' | sort | tail -n 1)"
    if [ ! -f "$dir/$name" ] || [ "$name" != "$newest" ]; then
        say "$dir/latest names '$name' but the newest checkpoint file is '$newest'. Run discern train --resume auto on"
        say "that run directory to repair the pointer; if it warns that '$newest' is damaged, remove that file."
        return 1
    fi
    printf '%s\n' "$dir/$name"
}

discern_require_swift() {
    if ! command -v swift >/dev/null; then
        say "swift is not on PATH. Install Swift 6 (https://www.swift.org/install) and retry."
        return 1
    fi
}

# Compiles an object file that gives the binary its build's commit, date and compiler into the
# build folder $1, and prints its path, for `swift build -Xlinker PATH`: its definitions replace the weak "unknown" defaults in
# Sources/CBuildInfo. A link-time object rather than `-Xcc -D` macros, which would reach every
# target's compile command and rebuild the package. Its name is a hash of its contents, so a new
# value changes the link command and SwiftPM links again.
discern_build_info_object() {
    local folder="$1/build-info" commit date compiler source object
    commit="$(git -C "$DISCERN_ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
    if [ "$commit" != unknown ] && [ -n "$(git -C "$DISCERN_ROOT" status --porcelain --untracked-files=no)" ]; then
        commit="$commit-modified"
    fi
    date="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    compiler="$(swift --version 2>/dev/null | head -n 1 | tr -d '"\\')"
    mkdir -p "$folder"
    source="$folder/build_info.c"
    printf '%s\n' "const char *discern_build_commit(void) { return \"$commit\"; }" \
        "const char *discern_build_date(void) { return \"$date\"; }" \
        "const char *discern_build_compiler(void) { return \"${compiler:-unknown}\"; }" > "$source"
    object="$folder/build-info-$(sha256sum "$source" | cut -c1-16).o"
    rm -f "$folder"/build-info-*.o
    "$(dirname "$(readlink -f "$(command -v swift)")")/clang" -c -O2 -fPIC -o "$object" "$source"
    printf '%s\n' "$object"
}

# The launchers' release build: `swift build -c release ARGS` with the build-info object linked in,
# so every run's metrics.jsonl and checkpoints name the commit that made it (a plain `swift build`
# says "unknown"). A new object only relinks (about 2 s), it recompiles nothing.
discern_release_build() {
    swift build -c release "$@" -Xlinker "$(discern_build_info_object "$DISCERN_ROOT/.build")"
}

# Replaces the lines between BEGIN and END (the marker lines included) in PAGE by the file BLOCK,
# which starts with BEGIN and ends with END, so the commentary around a generated table survives a
# rerun; a page without the markers gets the block appended under "## HEADING". The page is
# written whole (a temporary file renamed) or not at all.
discern_replace_page_block() {
    local page="$1" begin="$2" end="$3" block="$4" heading="$5"
    if grep -qF "$begin" "$page" && grep -qF "$end" "$page"; then
        awk -v begin="$begin" -v end="$end" -v block="$block" '
            $0 == begin { while ((getline line < block) > 0) print line; skipping = 1; next }
            $0 == end { skipping = 0; next }
            !skipping { print }' "$page" > "$page.tmp"
    else
        { cat "$page"; echo; echo "## $heading"; echo; cat "$block"; } > "$page.tmp"
    fi
    mv "$page.tmp" "$page"
}

# Exports OPENBLAS_CORETYPE when this OpenBLAS would run generic kernels on this CPU (the 5x
# trap in docs/performance-notes). It must be set before a process starts, so the launcher does
# it. A value the user already set is kept.
discern_blas_environment() {
    local binary="$1"
    if [ -n "${OPENBLAS_CORETYPE:-}" ]; then return 0; fi
    local fix
    fix="$("$binary" doctor --print-blas-fix 2>/dev/null || true)"
    if [ -n "$fix" ]; then
        export OPENBLAS_CORETYPE="$fix"
        say "OpenBLAS would fall back to generic kernels here; using OPENBLAS_CORETYPE=$fix"
    fi
}

# Sets `mpi` (an array: mpirun and the flags this machine needs) for NP ranks, and exports
# OPENBLAS_NUM_THREADS = cores per rank (THREADS overrides). Only the flags the situation needs:
# root, more ranks than cores, and no core binding when a rank runs several threads.
discern_mpi_command() {
    local np="$1" cores threads
    cores="$(nproc)"
    threads="${THREADS:-$(( cores / np > 0 ? cores / np : 1 ))}"
    export OPENBLAS_NUM_THREADS="$threads"
    mpi=(mpirun -np "$np" --mca pml ob1 --mca btl self,vader -x OPENBLAS_NUM_THREADS)
    if [ -n "${OPENBLAS_CORETYPE:-}" ]; then mpi+=(-x OPENBLAS_CORETYPE); fi
    if [ "$(id -u)" -eq 0 ]; then mpi+=(--allow-run-as-root); fi
    if [ "$np" -gt "$cores" ]; then mpi+=(--oversubscribe); fi
    # Default binding pins each rank to one core; with several threads per rank that would starve them.
    if [ "$threads" -gt 1 ] || [ "$np" -gt "$cores" ]; then mpi+=(--bind-to none); fi
    say "$np rank(s) x $threads BLAS thread(s) on $cores core(s)"
}
