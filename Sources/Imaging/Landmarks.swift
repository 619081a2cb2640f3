/// Five facial landmarks in image pixel coordinates, in the ArcFace template's order: left
/// eye, right eye, nose tip, left mouth corner, right mouth corner.
public struct Landmarks: Sendable, Equatable, Hashable {
    /// x1, y1, ..., x5, y5.
    public var values: [Double]

    public init(_ values: [Double]) {
        precondition(values.count == 10, "five landmarks need 10 values, got \(values.count)")
        self.values = values
    }

    public var points: [(x: Double, y: Double)] {
        (0..<5).map { (values[2 * $0], values[2 * $0 + 1]) }
    }
}
