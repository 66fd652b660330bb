import NIOCore

// The MQTT data representations [MQTT-1.5]: two- and four-byte integers, variable byte integers,
// UTF-8 strings, binary data and string pairs.

extension ByteBuffer {
    /// Reads a Variable Byte Integer. Returns nil if more bytes are needed; throws if it is longer
    /// than four bytes or not minimally encoded [MQTT-1.5.5-1].
    mutating func readMQTTVariableByteInteger() throws(MQTTDecodeError) -> Int? {
        var value = 0
        var multiplier = 1
        var index = readerIndex
        for position in 0..<4 {
            guard let byte = getInteger(at: index, as: UInt8.self) else { return nil }
            index += 1
            value += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 {
                if position > 0 && byte == 0 {
                    throw .malformed("variable byte integer is not minimally encoded")
                }
                moveReaderIndex(to: index)
                return value
            }
            multiplier *= 128
        }
        throw .malformed("variable byte integer longer than four bytes")
    }

    /// Writes a Variable Byte Integer in its minimal form.
    @discardableResult
    mutating func writeMQTTVariableByteInteger(_ value: Int) -> Int {
        precondition(value >= 0 && value <= MQTTLimits.maximumVariableByteInteger)
        var remaining = value
        var written = 0
        repeat {
            var byte = UInt8(remaining % 128)
            remaining /= 128
            if remaining > 0 { byte |= 0x80 }
            writeInteger(byte)
            written += 1
        } while remaining > 0
        return written
    }

    /// Writes what `body` writes, preceded by its length as a Variable Byte Integer, in place: the
    /// length gets the room `atLeast` (a lower bound of the body's length) needs, and a longer body
    /// moves up to make room for a longer length. Returns the body's length; `tooLong` is thrown
    /// for one beyond the MQTT maximum.
    @discardableResult
    mutating func writeMQTTLengthPrefixed(
        atLeast: Int = 0, tooLong: (Int) -> MQTTEncodeError, _ body: (inout ByteBuffer) throws(MQTTEncodeError) -> Void
    ) throws(MQTTEncodeError) -> Int {
        func size(_ length: Int) -> Int { length < 128 ? 1 : length < 16_384 ? 2 : length < 2_097_152 ? 3 : 4 }
        let lengthAt = writerIndex
        let reserved = size(atLeast)
        writeRepeatingByte(0, count: reserved)
        let bodyStart = writerIndex
        try body(&self)
        let length = writerIndex - bodyStart
        guard length <= MQTTLimits.maximumVariableByteInteger else { throw tooLong(length) }
        let lengthBytes = size(length)
        if lengthBytes > reserved {
            writeRepeatingByte(0, count: lengthBytes - reserved)
            do {
                try copyBytes(at: bodyStart, to: bodyStart + lengthBytes - reserved, length: length)
            } catch {
                throw MQTTEncodeError("cannot make room for a length: \(error)")
            }
        }
        var remaining = length
        for index in 0..<lengthBytes {
            setInteger(UInt8(remaining & 0x7F) | (index < lengthBytes - 1 ? 0x80 : 0), at: lengthAt + index)
            remaining >>= 7
        }
        return length
    }

    /// Reads a UTF-8 Encoded String: well-formed, without U+0000 [MQTT-1.5.4-1, -2].
    mutating func readMQTTString(_ field: @autoclosure () -> String) throws(MQTTDecodeError) -> String {
        guard let length = readInteger(as: UInt16.self) else {
            throw .malformed("\(field()) is truncated")
        }
        guard let view = readSlice(length: Int(length)) else {
            throw .malformed("\(field()) is truncated")
        }
        let string: String? = view.withUnsafeReadableBytes { bytes in
            if bytes.contains(0) { return nil }
            return String(validating: bytes, as: UTF8.self)
        }
        guard let string else {
            throw .malformed("\(field()) is not well-formed UTF-8 or contains U+0000")
        }
        return string
    }

    /// Reads Binary Data (two-byte length and bytes).
    mutating func readMQTTBinary(_ field: @autoclosure () -> String) throws(MQTTDecodeError) -> ByteBuffer {
        guard let length = readInteger(as: UInt16.self), let data = readSlice(length: Int(length)) else {
            throw .malformed("\(field()) is truncated")
        }
        return data
    }

    mutating func readMQTTByte(_ field: @autoclosure () -> String) throws(MQTTDecodeError) -> UInt8 {
        guard let byte = readInteger(as: UInt8.self) else { throw .malformed("\(field()) is truncated") }
        return byte
    }

    mutating func readMQTTUInt16(_ field: @autoclosure () -> String) throws(MQTTDecodeError) -> UInt16 {
        guard let value = readInteger(as: UInt16.self) else { throw .malformed("\(field()) is truncated") }
        return value
    }

    mutating func readMQTTUInt32(_ field: @autoclosure () -> String) throws(MQTTDecodeError) -> UInt32 {
        guard let value = readInteger(as: UInt32.self) else { throw .malformed("\(field()) is truncated") }
        return value
    }

    /// Writes a UTF-8 Encoded String with its two-byte length.
    mutating func writeMQTTString(_ string: String, field: @autoclosure () -> String) throws(MQTTEncodeError) {
        let count = string.utf8.count
        guard count <= MQTTLimits.maximumStringLength else {
            throw MQTTEncodeError("\(field()) is \(count) bytes; MQTT strings hold at most 65535")
        }
        writeInteger(UInt16(count))
        writeString(string)
    }

    /// Writes Binary Data with its two-byte length.
    mutating func writeMQTTBinary(_ bytes: ByteBuffer, field: @autoclosure () -> String) throws(MQTTEncodeError) {
        guard bytes.readableBytes <= MQTTLimits.maximumStringLength else {
            throw MQTTEncodeError("\(field()) is \(bytes.readableBytes) bytes; MQTT binary data holds at most 65535")
        }
        writeInteger(UInt16(bytes.readableBytes))
        writeImmutableBuffer(bytes)
    }
}

/// Number of bytes the Variable Byte Integer encoding of `value` takes.
func variableByteIntegerSize(_ value: Int) -> Int {
    switch value {
    case ..<128: 1
    case ..<16_384: 2
    case ..<2_097_152: 3
    default: 4
    }
}
