import Foundation

/// The instruction-set extensions this CPU reports (the `flags` line of `/proc/cpuinfo`), read
/// once. Empty where that file does not exist (then every check is false and the portable paths
/// run).
public enum CPUFeatures {
    public static let flags: Set<Substring> = {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return [] }
        return Set(line.split(separator: " "))
    }()

    /// Whether every one of `names` is reported.
    public static func has(_ names: String...) -> Bool { names.allSatisfy { flags.contains(Substring($0)) } }

    /// AVX-512 with the subsets OpenBLAS's SkylakeX kernels use.
    public static var avx512: Bool { has("avx512f", "avx512bw", "avx512dq", "avx512vl") }

    /// AVX2 with FMA, what OpenBLAS's Haswell kernels use.
    public static var avx2: Bool { has("avx2", "fma") }
}
