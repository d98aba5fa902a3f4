import CDNNL
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The oneDNN objects bf16Gemm runs a shape with, made once per shape and kept: one primitive per
/// block of the product, each with its own stream, memory objects (their data pointers are set at
/// every call) and scratchpad (user-owned, so oneDNN allocates no scratchpad while it runs).
final class BFloat16GemmPlan {
    let shape: BFloat16GemmShape
    private let blocks: [Block]
    /// Checked out by a call (BFloat16GemmPlans' lock guards it).
    var busy = false

    struct Block {
        let primitive: dnnl_primitive_t, stream: dnnl_stream_t
        /// a, b and c of this block, then the scratchpad, in the order of `arguments`.
        let memories: [dnnl_memory_t]
        let arguments: UnsafeMutablePointer<dnnl_exec_arg_t>, argumentCount: Int32
        let scratchpad: UnsafeMutableRawPointer?
        /// Where the block starts in a, b and c (elements).
        let offsets: (a: Int, b: Int, c: Int)
    }

    init(_ shape: BFloat16GemmShape, engine: dnnl_engine_t) {
        self.shape = shape
        // Primitives take the thread count of the thread that makes them; every one runs alone.
        if omp_get_max_threads() != 1 { omp_set_num_threads(1) }
        blocks = (0..<shape.parts).compactMap { part in
            let (rows, columns) = shape.block(part)
            return rows.isEmpty || columns.isEmpty ? nil : Self.makeBlock(shape, rows: rows, columns: columns, engine: engine)
        }
    }

    deinit {
        for block in blocks {
            for memory in block.memories { dnnl_memory_destroy(memory) }
            dnnl_primitive_destroy(block.primitive)
            dnnl_stream_destroy(block.stream)
            block.arguments.deallocate()
            block.scratchpad?.deallocate()
        }
    }

    func run(_ a: UnsafePointer<UInt16>, _ b: UnsafePointer<UInt16>, _ c: UnsafeMutablePointer<Float>) {
        if blocks.count == 1 {
            Self.execute(blocks[0], a, b, c)
            return
        }
        let operands = (a: SharedPointer(a), b: SharedPointer(b), c: SharedPointer(c))
        withoutActuallyEscaping({ (part: Int) in Self.execute(self.blocks[part], operands.a.pointer, operands.b.pointer, operands.c.pointer) }) { body in
            let task = UncheckedSendable(body)
            DispatchQueue.concurrentPerform(iterations: blocks.count) { part in task.value(part) }
        }
    }

    private static func execute(_ block: Block, _ a: UnsafePointer<UInt16>, _ b: UnsafePointer<UInt16>, _ c: UnsafeMutablePointer<Float>) {
        // A worker thread starts with OpenMP's default count (all cores): oneDNN must not fork here.
        if omp_get_max_threads() != 1 { omp_set_num_threads(1) }
        dnnl_memory_set_data_handle(block.memories[0], UnsafeMutableRawPointer(mutating: a + block.offsets.a))
        dnnl_memory_set_data_handle(block.memories[1], UnsafeMutableRawPointer(mutating: b + block.offsets.b))
        dnnl_memory_set_data_handle(block.memories[2], UnsafeMutableRawPointer(c + block.offsets.c))
        let status = dnnl_primitive_execute(block.primitive, block.stream, block.argumentCount, block.arguments)
        precondition(status == dnnl_success, "bf16Gemm: oneDNN matmul failed (status \(status.rawValue))")
    }

    /// The block's matmul: row-major operands as strided 2-D descriptors (a transposed operand is
    /// the same memory with its strides swapped), alpha as the output scale, beta as a sum post-op.
    private static func makeBlock(_ shape: BFloat16GemmShape, rows: Range<Int>, columns: Range<Int>, engine: dnnl_engine_t) -> Block {
        func check(_ status: dnnl_status_t, _ what: String) {
            precondition(status == dnnl_success, "bf16Gemm: oneDNN \(what) failed (status \(status.rawValue)) for \(shape)")
        }
        let m = Int64(rows.count), n = Int64(columns.count), k = Int64(shape.k)
        let lda = Int64(shape.lda), ldb = Int64(shape.ldb), ldc = Int64(shape.ldc)
        var aDesc = dnnl_memory_desc_t(), bDesc = dnnl_memory_desc_t(), cDesc = dnnl_memory_desc_t()
        check(dnnl_memory_desc_init_by_strides(&aDesc, 2, [m, k], dnnl_bf16, shape.transA ? [1, lda] : [lda, 1]), "source descriptor")
        check(dnnl_memory_desc_init_by_strides(&bDesc, 2, [k, n], dnnl_bf16, shape.transB ? [1, ldb] : [ldb, 1]), "weights descriptor")
        check(dnnl_memory_desc_init_by_strides(&cDesc, 2, [m, n], dnnl_f32, [ldc, 1]), "destination descriptor")
        var matmul = dnnl_matmul_desc_t()
        check(dnnl_matmul_desc_init(&matmul, &aDesc, &bDesc, nil, &cDesc), "matmul descriptor")

        var attributes: dnnl_primitive_attr_t?
        check(dnnl_primitive_attr_create(&attributes), "attributes")
        defer { dnnl_primitive_attr_destroy(attributes) }
        check(dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user), "scratchpad mode")
        if shape.alpha != 1 {
            var alpha = shape.alpha
            check(dnnl_primitive_attr_set_output_scales(attributes, 1, 0, &alpha), "output scale (alpha)")
        }
        if shape.beta != 0 {
            var postOps: dnnl_post_ops_t?
            check(dnnl_post_ops_create(&postOps), "post-ops")
            defer { dnnl_post_ops_destroy(postOps) }
            check(dnnl_post_ops_append_sum(postOps, shape.beta), "sum post-op (beta)")
            check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "post-ops")
        }
        var descriptor: dnnl_primitive_desc_t?
        let created = dnnl_primitive_desc_create(&descriptor, &matmul, attributes, engine, nil)
        precondition(created == dnnl_success, """
            bf16Gemm: oneDNN has no bf16 matmul on this CPU (status \(created.rawValue); bf16 hardware: \
            \(BFloat16Hardware.description)). Use fp32 here; check BFloat16Hardware.native before choosing bf16.
            """)
        defer { dnnl_primitive_desc_destroy(descriptor) }
        var primitive: dnnl_primitive_t?, stream: dnnl_stream_t?
        check(dnnl_primitive_create(&primitive, descriptor), "primitive creation")
        check(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue), "stream")

        var memories: [dnnl_memory_t] = []
        for desc in [aDesc, bDesc, cDesc] {
            var memory: dnnl_memory_t?, desc = desc
            check(dnnl_memory_create(&memory, &desc, engine, discern_dnnl_memory_none()), "memory object")
            memories.append(memory!)
        }
        var scratchpad: UnsafeMutableRawPointer?
        let scratchpadDesc = dnnl_primitive_desc_query_md(descriptor, dnnl_query_scratchpad_md, 0)
        let scratchpadBytes = scratchpadDesc.map { dnnl_memory_desc_get_size($0) } ?? 0
        if let scratchpadDesc, scratchpadBytes > 0 {
            scratchpad = UnsafeMutableRawPointer.allocate(byteCount: scratchpadBytes, alignment: 64)
            var memory: dnnl_memory_t?
            check(dnnl_memory_create(&memory, scratchpadDesc, engine, scratchpad), "scratchpad memory")
            memories.append(memory!)
        }
        let names = [DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST, DNNL_ARG_SCRATCHPAD]
        let arguments = UnsafeMutablePointer<dnnl_exec_arg_t>.allocate(capacity: memories.count)
        for (index, memory) in memories.enumerated() { arguments[index] = dnnl_exec_arg_t(arg: Int32(names[index]), memory: memory) }

        let offsets = (a: shape.transA ? rows.lowerBound : rows.lowerBound * shape.lda,
                       b: shape.transB ? columns.lowerBound * shape.ldb : columns.lowerBound,
                       c: rows.lowerBound * shape.ldc + columns.lowerBound)
        return Block(primitive: primitive!, stream: stream!, memories: memories, arguments: arguments, argumentCount: Int32(memories.count),
                     scratchpad: scratchpad, offsets: offsets)
    }
}

/// Every plan, by shape. A call checks a plan out (marks it busy) and back in, so calls from
/// several threads at once never share oneDNN memory objects: a second concurrent call of a
/// shape makes a second plan. After the first call of a shape this allocates nothing: the lookup
/// only reads the dictionary and flips a flag on the plan.
final class BFloat16GemmPlans: @unchecked Sendable {
    static let shared = BFloat16GemmPlans()

    /// Shapes kept; past this (shapes that vary call by call) the idle plans are dropped and
    /// remade on demand.
    static let capacity = 1024

    let engine: dnnl_engine_t
    private var plans: [BFloat16GemmShape: [BFloat16GemmPlan]] = [:]
    private let lock: UnsafeMutablePointer<pthread_mutex_t>

    private init() {
        var engine: dnnl_engine_t?
        let status = dnnl_engine_create(&engine, dnnl_cpu, 0)
        precondition(status == dnnl_success, "bf16Gemm: oneDNN could not create its CPU engine (status \(status.rawValue))")
        self.engine = engine!
        lock = .allocate(capacity: 1)
        pthread_mutex_init(lock, nil)
    }

    func checkOut(_ shape: BFloat16GemmShape) -> BFloat16GemmPlan {
        pthread_mutex_lock(lock)
        if let plan = plans[shape]?.first(where: { !$0.busy }) {
            plan.busy = true
            pthread_mutex_unlock(lock)
            return plan
        }
        pthread_mutex_unlock(lock)
        let plan = BFloat16GemmPlan(shape, engine: engine)
        plan.busy = true
        pthread_mutex_lock(lock)
        if plans[shape] == nil && plans.count >= Self.capacity { plans = plans.filter { $0.value.contains { $0.busy } } }
        plans[shape, default: []].append(plan)
        pthread_mutex_unlock(lock)
        return plan
    }

    func checkIn(_ plan: BFloat16GemmPlan) {
        pthread_mutex_lock(lock)
        plan.busy = false
        pthread_mutex_unlock(lock)
    }
}
