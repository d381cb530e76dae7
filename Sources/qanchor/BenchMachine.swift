import Dispatch
import Foundation

/// Facts every benchmark reports next to its figures: the CPU, the cores, the load (the machine may be shared),
/// the OpenBLAS kernel settings, and the peak resident memory.
enum BenchMachine {
    /// "AMD EPYC … (2 cores)".
    static var cpu: String {
        let info = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let name = info.split(separator: "\n").first { $0.hasPrefix("model name") }?
            .split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        return "\(name) (\(ProcessInfo.processInfo.activeProcessorCount) cores)"
    }

    /// The 1-minute load average.
    static var loadAverage: Double {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? ""
        return Double(text.split(separator: " ").first ?? "") ?? -1
    }

    /// Peak resident set size of this process (VmHWM), in bytes.
    static var peakResidentBytes: Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
        return kb * 1024
    }

    /// `OPENBLAS_CORETYPE` / `OPENBLAS_L2_SIZE` as set for this run ("unset" when not).
    static var openBLASEnvironment: [String: String] {
        let env = ProcessInfo.processInfo.environment
        return ["OPENBLAS_CORETYPE": env["OPENBLAS_CORETYPE"] ?? "unset", "OPENBLAS_L2_SIZE": env["OPENBLAS_L2_SIZE"] ?? "unset"]
    }

    /// The best wall-clock seconds of `runs` runs of `body` (at least one).
    static func bestSeconds(of runs: Int, _ body: () throws -> Void) rethrows -> Double {
        var best = Double.infinity
        for _ in 0..<max(1, runs) {
            let start = DispatchTime.now().uptimeNanoseconds
            try body()
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        return best
    }

    /// CPU seconds (user + system) this process used so far.
    static var processCPUSeconds: Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}
