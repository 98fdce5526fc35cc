import BcosData
import XCTest
final class ZZScratch: XCTestCase {
    func testTime() {
        let img = Image(width: 1000, height: 750, rgba: [UInt8](repeating: 7, count: 1000*750*4))
        let t = Date(); let r = img.resized(width: 224, height: 224); print("TIME resize", Date().timeIntervalSince(t), r.width)
        let p = img.planarRGB(); let t2 = Date(); _ = resizedPlanar(p, channels: 3, height: 750, width: 1000, toHeight: 224, toWidth: 224); print("TIME planar", Date().timeIntervalSince(t2))
        let t3 = Date(); _ = try? PNG.write(img, to: "/tmp/zz-big.png", overwrite: true); _ = try? PNG.read("/tmp/zz-big.png"); print("TIME png", Date().timeIntervalSince(t3))
    }
}
