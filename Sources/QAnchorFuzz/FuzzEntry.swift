import Foundation

// Two builds of one executable (docs/reliability.md):
// - `ops/fuzz` builds it with `-sanitize=fuzzer,address -D QANCHOR_LIBFUZZER`: the entry point starts libFuzzer's
//   driver, which calls `LLVMFuzzerTestOneInput` with the target named by `QANCHOR_FUZZ_TARGET`.
// - A normal build replays inputs: `qanchor-fuzz TARGET FILE|DIRECTORY...` runs every file once through the target
//   (the tests replay the committed corpora and crashers this way); exit 0 when all of them returned.
//   `qanchor-fuzz --write-seeds DIR` writes the seed corpora (`FuzzSeeds`).

#if QANCHOR_LIBFUZZER
private let selectedTarget: FuzzTarget = {
    let name = ProcessInfo.processInfo.environment["QANCHOR_FUZZ_TARGET"] ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        FileHandle.standardError.write(Data("qanchor-fuzz: set QANCHOR_FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue))\n".utf8))
        exit(2)
    }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    selectedTarget.run(bytes)
    return 0
}

/// libFuzzer's driver (compiler-rt), for executables that keep their own `main`.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<Int32>,
                         _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

/// SwiftPM links an executable's entry point as `<module>_main` (and aliases `main` to it), so libFuzzer's own
/// `main` stays out of the link: start its driver from here.
@_cdecl("qanchor_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, fuzzOneInput)
}
#else
@main
enum FuzzReplay {
    static func main() {
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.first == "--write-seeds", arguments.count == 2 {
            let testdata = URL(fileURLWithPath: ProcessInfo.processInfo.environment["QANCHOR_FUZZ_TESTDATA"] ?? "testdata")
            do { try FuzzSeeds.write(to: URL(fileURLWithPath: arguments.last!), testdata: testdata) } catch {
                FileHandle.standardError.write(Data("qanchor-fuzz: \(error)\n".utf8))
                exit(1)
            }
            return
        }
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name), arguments.count > 1 else {
            FileHandle.standardError.write(Data("usage: qanchor-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE|DIRECTORY...\n".utf8))
            exit(2)
        }
        var files: [URL] = []
        for path in arguments.dropFirst() {
            let url = URL(fileURLWithPath: path)
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("qanchor-fuzz: no such file: \(path)\n".utf8))
                exit(2)
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().filter { !$0.hasPrefix(".") }.map { url.appendingPathComponent($0) }
            } else {
                files.append(url)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file.path) else {
                FileHandle.standardError.write(Data("qanchor-fuzz: cannot read \(file.path)\n".utf8))
                exit(2)
            }
            target.run([UInt8](data))
        }
        print("qanchor-fuzz: \(target.rawValue): \(files.count) inputs replayed")
    }
}
#endif
