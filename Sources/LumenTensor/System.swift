import Foundation
#if canImport(Glibc)
import Glibc
import CMalloc
#elseif canImport(Darwin)
import Darwin
#endif

@usableFromInline
func getenvString(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    return String(cString: value)
}

@usableFromInline
func systemCoreCount() -> Int {
    Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))
}

#if os(Linux)
private let RUSAGE_SELF_WHO = __rusage_who_t(RUSAGE_SELF.rawValue)
#else
private let RUSAGE_SELF_WHO = RUSAGE_SELF
#endif

/// Peak resident set size of this process in bytes.
///
/// On Linux this is `VmHWM` from `/proc/self/status`, the high-water mark of this program's own
/// memory. `getrusage`'s `ru_maxrss` is carried across fork + exec, so a process started by a
/// large parent (a benchmark script holding a PyTorch model) would report the parent's size.
public func peakResidentBytes() -> Int {
    #if os(Linux)
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
       let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
       let kb = Int(String(line.dropFirst("VmHWM:".count).filter(\.isNumber))) {
        return kb * 1024
    }
    #endif
    var usage = rusage()
    getrusage(RUSAGE_SELF_WHO, &usage)
    #if os(Linux)
    return Int(usage.ru_maxrss) * 1024
    #else
    return Int(usage.ru_maxrss)
    #endif
}

/// The process's allocator set up for the engine's allocation pattern: many short-lived tensors
/// of the same few sizes, each tens to hundreds of MB.
///
/// glibc serves an allocation above its mmap threshold (which moves with the allocation history
/// but never above 32 MB) with a fresh mapping, and returns freed memory at the heap's top to the
/// system past its trim threshold, so a step's activations (a 42 MB GEGLU projection in the SD
/// UNet at 512², 128–512 MB feature maps in its VAE decoder) were page-faulted and zeroed by the
/// kernel on every use. With mappings off (`M_MMAP_MAX` 0) and trimming only above 2 GB free,
/// freed tensors stay in the heap and are handed out again. Measured with `lumen bench` on
/// SD-Turbo (random weights), off then on: 512², 1 step, one run each: UNet step 7.2 → 5.8 s, VAE
/// decode 13.4 → 10.9 s, peak RSS 3296 → 3423 MiB (fragmentation of the kept heap); 256², 2 runs,
/// alternated twice: end to end 5.48–5.54 → 4.79–4.85 s, peak RSS 2792 → 2847 MiB (with TAESD:
/// 2465 MiB both ways, time within noise).
///
/// That held only on the main arena. A thread other than the main one allocates from an arena of
/// its own, whose heaps are at most 64 MB: glibc maps anything larger freshly whatever
/// `M_MMAP_MAX` says, and unmaps it on free. `lumen`'s commands run on such threads (Swift
/// concurrency's pool), so every large tensor was still faulted in anew: 3.7–4.2 M page faults
/// in one 512² `lumen bench` run, 720 mmap and 134 munmap calls in a 256² one, page faults in
/// Winograd's output transform, GroupNorm+SiLU and nearest upsampling (their first writes to a
/// fresh tensor), which made the output transform 2.7× slower than a second pass over the same
/// block. `M_ARENA_MAX` 1 sends every thread to the main arena. glibc fixes the arena limit when
/// the first secondary arena is made, so `lumen` applies this first thing in `main`; applied
/// later (a library user's first pipeline load), the other two settings still hold.
/// `LUMEN_KEEP_FREED_MEMORY=0` leaves glibc's defaults (for measuring).
public enum AllocatorPolicy {
    /// Applied once, on first use; true if the settings were taken.
    public static let applied: Bool = {
        #if canImport(Glibc)
        guard getenvString("LUMEN_KEEP_FREED_MEMORY") != "0" else { return false }
        return mallopt(M_ARENA_MAX, 1) == 1 && mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, Int32.max) == 1
        #else
        return false
        #endif
    }()

    /// Hands the pages of `array`'s storage back to the system now (`madvise(MADV_DONTNEED)` on
    /// the whole pages inside it), for memory about to be freed for good, such as a weight's plain
    /// elements once a kernel keeps them in its own layout (`BF16Elements`): kept heap memory
    /// would otherwise stay resident. The caller then drops the array; glibc keeps the chunk in
    /// its free list, and whoever gets it next faults in zeroed pages.
    ///
    /// Why not `malloc_trim(0)`, which this replaced: it unmaps every free page in the heap, also
    /// those of the activations and scratch buffers the call had just freed and the next call
    /// takes again, so the second UNet call of a process page-faulted them all back in. SD-Turbo
    /// at 512² with TAESD, `LUMEN_BF16=1 lumen bench --runs 4 --json` (`runs_s`), the first timed
    /// UNet call against the rest: 1.06–1.17 s against 0.91–0.99 with the trim (776e8f4), 0.95–0.96
    /// against 0.94–1.01 with this (2b814f8), 0.93 against 0.91–0.93 with `LUMEN_TRIM_FREED=0`
    /// (peak RSS 2.61, 2.64 and 2.69–2.71 GiB).
    /// A non-unique array is copied before its pages are dropped (by `withUnsafeMutableBytes`),
    /// so no other holder sees its elements change.
    public static func returnPages<Element>(of array: inout [Element]) {
        #if canImport(Glibc)
        guard trimsFreedMemory else { return }
        array.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            let start = (Int(bitPattern: base) + page - 1) / page * page
            let end = (Int(bitPattern: base) + raw.count) / page * page
            if end > start { _ = madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, Int32(MADV_DONTNEED)) }
        }
        #endif
    }

    /// `LUMEN_TRIM_FREED=0` keeps freed weights' pages resident (for measuring).
    static let trimsFreedMemory = getenvString("LUMEN_TRIM_FREED") != "0"
}
