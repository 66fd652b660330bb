import Hardware
import Testing

@Suite("The simulated I2C bus")
struct SimulatedI2CBusTests {
    @Test("registers read back as bytes, little-endian words and blocks; writes are logged as wire bytes")
    func registers() throws {
        let bus = SimulatedI2CBus(number: 1)
        let device = bus.attach(0x76, registers: [0xD0: 0x60])
        #expect(try bus.readByteData(0x76, register: 0xD0) == 0x60)
        try bus.writeWordData(0x76, register: 0x10, 0x1234)
        #expect(device.register(0x10) == 0x34)
        #expect(device.register(0x11) == 0x12)
        #expect(try bus.readWordData(0x76, register: 0x10) == 0x1234)
        device.load(0x88, [0x70, 0x6B, 0x43])
        #expect(try bus.readI2CBlock(0x76, register: 0x88, count: 3) == [0x70, 0x6B, 0x43])
        #expect(try bus.readBytes(0x76, count: 2) == [0x00, 0x00], "a plain read continues after the block")
        #expect(bus.writeLog.map(\.bytes) == [[0x10, 0x34, 0x12]])
    }

    @Test("an absent device is an error naming bus and address, never a value")
    func absent() {
        let bus = SimulatedI2CBus(number: 3)
        #expect(throws: I2CError.noDevice(bus: 3, address: 0x23)) { try bus.readByteData(0x23, register: 0) }
        #expect(
            "\(I2CError.noDevice(bus: 3, address: 0x23))"
                == "no device answered at 0x23 on I2C bus 3 (absent, unpowered or miswired?)")
    }

    @Test("a scan finds the attached devices in the 0x03...0x77 range")
    func scan() throws {
        let bus = SimulatedI2CBus()
        for address: UInt8 in [0x23, 0x76, 0x02, 0x78] { bus.attach(address) }
        #expect(try bus.scan() == [0x23, 0x76])
    }

    @Test("7-bit addresses only", arguments: [(0x76, true), (0x03, true), (0x77, true), (0x02, false), (0x78, false), (-1, false)])
    func addresses(value: Int, valid: Bool) {
        #expect(((try? validI2CAddress(value)) != nil) == valid)
    }
}

@Suite("Simulated word-register devices")
struct WordRegisterDeviceTests {
    @Test("16-bit registers go most significant byte first, so an SMBus word needs swapping")
    func bigEndian() throws {
        let bus = SimulatedI2CBus()
        let device = WordRegisterDevice(registers: [0x00: 0x0C80])
        bus.attach(0x48, device)
        #expect(try bus.readWordData(0x48, register: 0x00) == 0x800C)
        try bus.writeWordData(0x48, register: 0x01, 0x3412)
        #expect(device.register(0x01) == 0x1234)
    }
}
