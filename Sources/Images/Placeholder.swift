// Filled in by the image work.
