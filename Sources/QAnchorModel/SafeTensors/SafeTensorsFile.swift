import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A memory-mapped safetensors file (https://github.com/huggingface/safetensors) with a validated header.
///
/// Layout: an 8-byte little-endian header length N, N bytes of JSON header
/// (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}`), then the data section.
/// Opening checks everything a reader relies on — lengths, JSON structure, dtype names, offsets inside the data
/// section, entries not overlapping, byte length = element count × dtype size — so later reads cannot go out of
/// bounds. Reading converts F32/F16/BF16 to an owned fp32 ``Tensor``.
///
/// Threading: immutable after `init`; reads may run concurrently. The mapping is released on deinit.
public final class SafeTensorsFile: @unchecked Sendable {
    /// Path of the file (used in every error).
    public let path: String
    /// Validated entries by name.
    public let tensors: [String: SafeTensorInfo]
    /// The optional `__metadata__` string map.
    public let metadata: [String: String]

    private let mapping: UnsafeMutableRawPointer?
    private let mappedLength: Int
    private let dataStart: Int

    /// Maps and validates the file at `url`. Throws ``SafeTensorsError``.
    public init(url: URL) throws {
        let path = url.path
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SafeTensorsError.cannotOpen(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw SafeTensorsError.cannotOpen(file: path, reason: String(cString: strerror(errno)))
        }
        let size = Int(st.st_size)
        guard size >= 8 else { throw SafeTensorsError.truncated(file: path, detail: "\(size) bytes, no 8-byte header length") }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), base != MAP_FAILED else {
            throw SafeTensorsError.cannotOpen(file: path, reason: "mmap: " + String(cString: strerror(errno)))
        }
        var headerLength: UInt64 = 0
        withUnsafeMutableBytes(of: &headerLength) { $0.copyMemory(from: UnsafeRawBufferPointer(start: base, count: 8)) }
        headerLength = UInt64(littleEndian: headerLength)
        guard headerLength <= UInt64(size - 8) else {
            munmap(base, size)
            throw SafeTensorsError.truncated(file: path, detail: "header length \(headerLength) exceeds the \(size - 8) bytes after the prefix")
        }
        let headerBytes = Data(bytes: base + 8, count: Int(headerLength))
        let dataStart = 8 + Int(headerLength)
        do {
            (tensors, metadata) = try Self.parseHeader(headerBytes, dataLength: size - dataStart, path: path)
        } catch {
            munmap(base, size)
            throw error
        }
        mapping = base
        mappedLength = size
        self.dataStart = dataStart
    }

    deinit { if let mapping { munmap(mapping, mappedLength) } }

    /// Names of all tensors, sorted.
    public var names: [String] { tensors.keys.sorted() }

    /// The tensor `name` converted to fp32. Throws ``SafeTensorsError/missingTensor(file:tensor:)`` or
    /// ``SafeTensorsError/unsupportedDType(file:tensor:dtype:)``.
    public func tensor(_ name: String) throws -> Tensor {
        guard let info = tensors[name] else { throw SafeTensorsError.missingTensor(file: path, tensor: name) }
        guard info.dtype.convertsToFloat32 else {
            throw SafeTensorsError.unsupportedDType(file: path, tensor: name, dtype: info.dtype.rawValue)
        }
        let out = Tensor(zeros: info.shape)
        guard let mapping else { return out }
        let src = UnsafeRawPointer(mapping + dataStart + info.byteRange.lowerBound)
        let n = info.elementCount
        switch info.dtype {
        case .f32:
            UnsafeMutableRawPointer(out.data).copyMemory(from: src, byteCount: n * 4)
        case .f16:
            for i in 0..<n {
                let bits = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                out.data[i] = Float(halfBits: bits)
            }
        case .bf16:
            for i in 0..<n {
                let bits = UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
                out.data[i] = Float(bitPattern: UInt32(bits) << 16)
            }
        default:
            break
        }
        return out
    }

    /// Tells the kernel the mapped pages of `name` are no longer needed (they drop out of the resident set;
    /// a later read maps them in again). Loaders call this after converting a tensor to keep peak memory low.
    public func releasePages(of name: String) {
        guard let info = tensors[name], let mapping, info.byteRange.count > 0 else { return }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = dataStart + info.byteRange.lowerBound
        let alignedStart = (start + page - 1) / page * page
        let end = (dataStart + info.byteRange.upperBound) / page * page
        if end > alignedStart { madvise(mapping + alignedStart, end - alignedStart, Int32(MADV_DONTNEED)) }
    }

    // MARK: header validation

    static func parseHeader(_ bytes: Data, dataLength: Int, path: String) throws
        -> ([String: SafeTensorInfo], [String: String]) {
        let json: JSONValue
        do { json = try JSONValue.decode(bytes) } catch {
            throw SafeTensorsError.badHeader(file: path, detail: "header is not valid JSON")
        }
        guard let object = json.objectValue else {
            throw SafeTensorsError.badHeader(file: path, detail: "header is not a JSON object")
        }
        var infos: [String: SafeTensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in object {
            if name == "__metadata__" {
                guard let map = value.objectValue else {
                    throw SafeTensorsError.badHeader(file: path, detail: "__metadata__ is not an object")
                }
                for (k, v) in map {
                    guard let s = v.stringValue else {
                        throw SafeTensorsError.badHeader(file: path, detail: "__metadata__[\(k)] is not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            infos[name] = try parseEntry(name: name, value: value, dataLength: dataLength, path: path)
        }
        // Entries must not overlap (sorted by start, each must end before the next begins).
        let sorted = infos.values.filter { !$0.byteRange.isEmpty }.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.byteRange.upperBound > b.byteRange.lowerBound {
            throw SafeTensorsError.badTensor(file: path, tensor: b.name,
                                             detail: "bytes \(b.byteRange) overlap tensor '\(a.name)' at \(a.byteRange)")
        }
        return (infos, metadata)
    }

    private static func parseEntry(name: String, value: JSONValue, dataLength: Int, path: String) throws -> SafeTensorInfo {
        func bad(_ detail: String) -> SafeTensorsError { .badTensor(file: path, tensor: name, detail: detail) }
        guard let entry = value.objectValue else { throw bad("entry is not an object") }
        guard let dtypeName = entry["dtype"]?.stringValue else { throw bad("missing or non-string 'dtype'") }
        guard let dtype = SafeTensorDType(rawValue: dtypeName) else { throw bad("unknown dtype '\(dtypeName)'") }
        guard let shapeValues = entry["shape"]?.arrayValue else { throw bad("missing or non-array 'shape'") }
        let shape = try shapeValues.map { v -> Int in
            guard let n = exactInt(v), n >= 0 else { throw bad("shape [\(shapeValues.map(\.summary).joined(separator: ", "))] has a non-integer or negative dimension") }
            return n
        }
        guard let offsets = entry["data_offsets"]?.arrayValue, offsets.count == 2,
              let begin = exactInt(offsets[0]), let end = exactInt(offsets[1]) else {
            throw bad("'data_offsets' must be two integers")
        }
        guard begin >= 0, begin <= end else { throw bad("data_offsets [\(begin), \(end)] are not ordered") }
        guard end <= dataLength else {
            throw SafeTensorsError.truncated(file: path, detail: "tensor '\(name)' ends at byte \(end) of a \(dataLength)-byte data section")
        }
        var elements = 1
        for d in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { throw bad("shape \(shape) overflows") }
            elements = product
        }
        let (expected, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow, expected == end - begin else {
            throw bad("shape \(shape) × \(dtype.rawValue) needs \(expected) bytes but data_offsets span \(end - begin)")
        }
        return SafeTensorInfo(name: name, dtype: dtype, shape: shape, byteRange: begin..<end)
    }

    /// An integer from a JSON number, or nil when it is not an exact integer in range.
    private static func exactInt(_ v: JSONValue) -> Int? {
        v.exactInteger.map { Int($0) }
    }
}

extension Float {
    /// IEEE 754 binary16 bits → fp32 (exact).
    init(halfBits bits: UInt16) {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int((bits >> 10) & 0x1F)
        let mantissa = UInt32(bits & 0x3FF)
        if exponent == 0x1F {
            self = Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))       // inf / nan
        } else if exponent == 0 {
            let magnitude = Float(mantissa) * 0x1p-24                           // zero / subnormal
            self = sign != 0 ? -magnitude : magnitude
        } else {
            self = Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
        }
    }
}
