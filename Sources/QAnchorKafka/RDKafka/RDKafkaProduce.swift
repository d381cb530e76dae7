import CRdKafka

/// Builds the `rd_kafka_vu_t` argument list for `rd_kafka_produceva` (Swift cannot call the variadic
/// `rd_kafka_producev`). All strings and bytes are copied into one scratch allocation that lives for the call;
/// librdkafka copies them again (`RD_KAFKA_MSG_F_COPY`).
enum RDKafkaProduce {
    static func produce(_ record: KafkaProducerRecord, opaque: UInt, on kafka: OpaquePointer) -> rd_kafka_resp_err_t {
        var size = record.topic.utf8.count + 1 + (record.key?.count ?? 0) + (record.value?.count ?? 0)
        for header in record.headers { size += header.name.utf8.count + 1 + (header.value?.count ?? 0) }
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(size, 1), alignment: 8)
        defer { scratch.deallocate() }
        var cursor = 0
        func copy(_ bytes: some Collection<UInt8>, terminate: Bool) -> UnsafeMutableRawPointer {
            let start = scratch.baseAddress! + cursor
            let copied = bytes.withContiguousStorageIfAvailable { source -> Bool in
                if let base = source.baseAddress { start.copyMemory(from: base, byteCount: source.count) }
                return true
            } ?? false
            if copied { cursor += bytes.count } else { for byte in bytes { scratch[cursor] = byte; cursor += 1 } }
            if terminate { scratch[cursor] = 0; cursor += 1 }
            return start
        }

        var values: [rd_kafka_vu_t] = []
        values.reserveCapacity(6 + record.headers.count)
        var v = rd_kafka_vu_t()
        v.vtype = RD_KAFKA_VTYPE_TOPIC
        v.u.cstr = UnsafePointer(copy(record.topic.utf8, terminate: true).assumingMemoryBound(to: CChar.self))
        values.append(v)
        v = rd_kafka_vu_t()
        v.vtype = RD_KAFKA_VTYPE_MSGFLAGS
        v.u.i = RD_KAFKA_MSG_F_COPY
        values.append(v)
        v = rd_kafka_vu_t()
        v.vtype = RD_KAFKA_VTYPE_OPAQUE
        v.u.ptr = UnsafeMutableRawPointer(bitPattern: opaque)
        values.append(v)
        if let partition = record.partition {
            v = rd_kafka_vu_t()
            v.vtype = RD_KAFKA_VTYPE_PARTITION
            v.u.i32 = partition
            values.append(v)
        }
        func appendBytes(_ type: rd_kafka_vtype_t, _ bytes: [UInt8]?) {
            guard let bytes else { return }
            var v = rd_kafka_vu_t()
            v.vtype = type
            v.u.mem.ptr = copy(bytes, terminate: false)
            v.u.mem.size = bytes.count
            values.append(v)
        }
        appendBytes(RD_KAFKA_VTYPE_KEY, record.key)
        appendBytes(RD_KAFKA_VTYPE_VALUE, record.value)
        if let timestamp = record.timestampMs {
            v = rd_kafka_vu_t()
            v.vtype = RD_KAFKA_VTYPE_TIMESTAMP
            v.u.i64 = timestamp
            values.append(v)
        }
        for header in record.headers {
            v = rd_kafka_vu_t()
            v.vtype = RD_KAFKA_VTYPE_HEADER
            v.u.header.name = UnsafePointer(copy(header.name.utf8, terminate: true).assumingMemoryBound(to: CChar.self))
            if let value = header.value {
                v.u.header.val = UnsafeRawPointer(copy(value, terminate: false))
                v.u.header.size = value.count
            } else {
                v.u.header.val = nil
                v.u.header.size = 0
            }
            values.append(v)
        }
        let error = values.withUnsafeBufferPointer { rd_kafka_produceva(kafka, $0.baseAddress, $0.count) }
        guard let error else { return RD_KAFKA_RESP_ERR_NO_ERROR }
        defer { rd_kafka_error_destroy(error) }
        return rd_kafka_error_code(error)
    }
}
