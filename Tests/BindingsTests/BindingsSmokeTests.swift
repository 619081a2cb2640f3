import CBLAS
import CHDF5
import CJPEG
import CPNG
import CZMQ
import Foundation
import Testing

/// Each C binding links and does its basic job. The owned Swift wrappers are tested with the
/// modules that own them; these only prove the libraries and shims themselves work.
@Suite struct BindingsSmokeTests {
    static func fixture(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures"))
        return try Data(contentsOf: url)
    }

    /// A C message buffer as text (up to its terminating NUL).
    static func text(_ message: [CChar]) -> String {
        String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A deterministic generator, so failures reproduce.
    struct LCG {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int(state >> 33) % 20001 - 10000) / 10000
        }
    }

    @Test(arguments: [(1, 1, 1), (7, 5, 3), (33, 17, 65), (64, 128, 96)])
    func sgemmMatchesNaiveProduct(m: Int, n: Int, k: Int) {
        var rng = LCG(state: UInt64(m * 1000 + n * 10 + k))
        let a = (0..<(m * k)).map { _ in rng.next() }
        let b = (0..<(k * n)).map { _ in rng.next() }
        var c = [Float](repeating: .nan, count: m * n)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(m), blasint(n), blasint(k),
                    1, a, blasint(k), b, blasint(n), 0, &c, blasint(n))
        for i in 0..<m {
            for j in 0..<n {
                var expected = 0.0
                for p in 0..<k { expected += Double(a[i * k + p]) * Double(b[p * n + j]) }
                // float32 accumulation over k terms of magnitude <= 1: 1e-5 * k bounds it.
                #expect(abs(Double(c[i * n + j]) - expected) <= 1e-5 * Double(k), "c[\(i),\(j)]")
            }
        }
    }

    @Test func hdf5RoundTripsAFloatDataset() throws {
        #expect(magfleet_H5_silence_errors() >= 0)
        let path = FileManager.default.temporaryDirectory
            .appendingPathComponent("magfleet-smoke-\(UUID().uuidString).h5").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let values: [Float] = (0..<12).map { Float($0) * 0.5 - 2.25 }

        let file = H5Fcreate(path, magfleet_H5F_ACC_TRUNC(), magfleet_H5P_DEFAULT(), magfleet_H5P_DEFAULT())
        #expect(file >= 0)
        var dims: [hsize_t] = [3, 4]
        let space = H5Screate_simple(2, &dims, nil)
        let dset = H5Dcreate2(file, "values", magfleet_H5T_IEEE_F32LE(), space,
                              magfleet_H5P_DEFAULT(), magfleet_H5P_DEFAULT(), magfleet_H5P_DEFAULT())
        #expect(dset >= 0)
        #expect(H5Dwrite(dset, magfleet_H5T_NATIVE_FLOAT(), magfleet_H5S_ALL(), magfleet_H5S_ALL(),
                         magfleet_H5P_DEFAULT(), values) >= 0)
        H5Dclose(dset); H5Sclose(space); H5Fclose(file)

        let reopened = H5Fopen(path, magfleet_H5F_ACC_RDONLY(), magfleet_H5P_DEFAULT())
        #expect(reopened >= 0)
        let readSet = H5Dopen2(reopened, "values", magfleet_H5P_DEFAULT())
        var back = [Float](repeating: .nan, count: 12)
        #expect(H5Dread(readSet, magfleet_H5T_NATIVE_FLOAT(), magfleet_H5S_ALL(), magfleet_H5S_ALL(),
                        magfleet_H5P_DEFAULT(), &back) >= 0)
        H5Dclose(readSet); H5Fclose(reopened)
        #expect(back == values)
        #expect(magfleet_H5_version() >= 11000)
    }

    @Test func zmqPushPullOverInproc() throws {
        let context = try #require(zmq_ctx_new())
        defer { zmq_ctx_term(context) }
        let pull = try #require(zmq_socket(context, ZMQ_PULL))
        let push = try #require(zmq_socket(context, ZMQ_PUSH))
        #expect(zmq_bind(pull, "inproc://smoke") == 0)
        #expect(zmq_connect(push, "inproc://smoke") == 0)
        let message = Array("magfleet".utf8)
        #expect(zmq_send(push, message, message.count, 0) == Int32(message.count))
        var buffer = [UInt8](repeating: 0, count: 64)
        let received = zmq_recv(pull, &buffer, buffer.count, 0)
        #expect(received == Int32(message.count))
        #expect(Array(buffer[0..<Int(max(received, 0))]) == message)
        var linger: Int32 = 0
        zmq_setsockopt(push, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        zmq_setsockopt(pull, ZMQ_LINGER, &linger, MemoryLayout<Int32>.size)
        zmq_close(push); zmq_close(pull)
    }

    @Test func zmqHasCurve() {
        #expect(zmq_has("curve") != 0)
    }

    @Test func jpegDecodesLikeOpenCV() throws {
        let data = try Self.fixture("smoke.jpg")
        let expected = try Self.fixture("smoke.jpg.bgr")
        var info = magfleet_jpeg_info()
        var message = [CChar](repeating: 0, count: 256)
        let header = data.withUnsafeBytes {
            magfleet_jpeg_read_header($0.bindMemory(to: UInt8.self).baseAddress, data.count, &info, &message, message.count)
        }
        #expect(header == 0)
        #expect((info.width, info.height) == (40, 24))
        var pixels = [UInt8](repeating: 0, count: Int(info.width * info.height * 3))
        let rc = data.withUnsafeBytes {
            magfleet_jpeg_decode_bgr($0.bindMemory(to: UInt8.self).baseAddress, data.count, &pixels,
                                     info.width, info.height, 1, &message, message.count)
        }
        #expect(rc == 0, "\(Self.text(message))")
        // Same libjpeg-turbo ISLOW path as OpenCV: pixel-exact.
        #expect(pixels == Array(expected))
    }

    @Test func pngDecodesLikeOpenCV() throws {
        let data = try Self.fixture("smoke.png")
        let expected = try Self.fixture("smoke.png.bgr")
        var info = magfleet_png_info()
        var message = [CChar](repeating: 0, count: 256)
        var pixels = [UInt8](repeating: 0, count: 40 * 24 * 3)
        let rc = data.withUnsafeBytes {
            magfleet_png_decode($0.bindMemory(to: UInt8.self).baseAddress, data.count, &info, &pixels, &message, message.count)
        }
        #expect(rc == 0, "\(Self.text(message))")
        #expect((info.width, info.height) == (40, 24))
        #expect(pixels == Array(expected))
    }

    @Test func truncatedJPEGIsAnErrorNotACrash() throws {
        let full = try Self.fixture("smoke.jpg")
        let data = full.prefix(full.count - 200)  // cut inside the entropy-coded scan
        var info = magfleet_jpeg_info()
        var message = [CChar](repeating: 0, count: 256)
        _ = data.withUnsafeBytes {
            magfleet_jpeg_read_header($0.bindMemory(to: UInt8.self).baseAddress, data.count, &info, &message, message.count)
        }
        var pixels = [UInt8](repeating: 0, count: 40 * 24 * 3)
        let rc = data.withUnsafeBytes {
            magfleet_jpeg_decode_bgr($0.bindMemory(to: UInt8.self).baseAddress, data.count, &pixels, 40, 24, 1, &message, message.count)
        }
        #expect(rc == -1)
        #expect(Self.text(message).contains("Premature end"))
    }
}
