import Evaluation
import Foundation

/// The committed fixtures of Tests/Fixtures/gen_metrics.py.
enum Fixture {
    static func url(_ name: String) -> URL { Bundle.module.url(forResource: "Fixtures/" + name, withExtension: nil)! }

    static func json(_ name: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: url(name))) as! [String: Any]
    }

    /// The 600 x 32 table and its JSON (expected values, pairs).
    static func table() throws -> (FeatureTable, [String: Any]) {
        let meta = try json("table.json")
        let data = try Data(contentsOf: url("table.f32"))
        let floats = data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let table = try FeatureTable(
            dimension: meta["dimension"] as! Int, embeddings: floats, labels: meta["labels"] as! [Int],
            labelNames: meta["labelNames"] as! [String], paths: meta["paths"] as! [String])
        return (table, meta)
    }

    /// Head weights from gen_metrics.py's JSON test vectors (`inputDimension`, `hidden`,
    /// `labelNames`, `w1`, `b1`, `w2`, `b2`, PyTorch layout). Test input only: magfleet's
    /// own head file is HDF5 (head.h5).
    static func headWeights(_ name: String) throws -> HeadWeights {
        let j = try json(name)
        func floats(_ key: String) -> [Float] { (j[key] as! [Double]).map(Float.init) }
        return try HeadWeights(
            inputDimension: j["inputDimension"] as! Int, hidden: j["hidden"] as! Int, labelNames: j["labelNames"] as! [String],
            w1: floats("w1"), b1: floats("b1"), w2: floats("w2"), b2: floats("b2"))
    }

    static func pairs(_ meta: [String: Any]) throws -> PairSet {
        try JSONDecoder().decode(PairSet.self, from: JSONSerialization.data(withJSONObject: meta["pairs"]!))
    }
}

func close(_ a: Double, _ b: Double, _ tolerance: Double) -> Bool { abs(a - b) <= tolerance }
