import LumenTensor

/// Elementwise combinations used by the samplers, in fp32 and in the operand order diffusers
/// writes them (so rounding matches the reference).
enum Combine {
    static func map2(_ x: Tensor, _ y: Tensor, _ f: (Float, Float) -> Float) -> Tensor {
        precondition(x.shape == y.shape)
        return Tensor(uninitializedShape: x.shape) { o in
            x.data.withUnsafeBufferPointer { xp in
                y.data.withUnsafeBufferPointer { yp in
                    for i in 0..<o.count { o[i] = f(xp[i], yp[i]) }
                }
            }
        }
    }
}
