import Tensor

extension IResNet {
    /// The FLOPs (multiply-adds x 2) this network's GEMMs issue per image at `batch`, with
    /// the algorithm each layer was prepared for (Winograd's transformed products, edge tiles
    /// included; im2col's full products), plus the fc. The engine's arithmetic work, the
    /// numerator of `bench`'s efficiency; the transforms and copies are not counted.
    public func issuedFlopsPerImage(batch: Int) -> Double {
        var total = 0.0
        func add(_ conv: FoldedConv, _ size: Int) -> Int {
            let g = conv.geometry(batch: batch, height: size, width: size)
            switch conv.weights {
            case let .winograd(u): total += Winograd.gemmFlops(g, tile: u.tile)
            case .blocked, .channelMajor: total += g.gemmFlops
            }
            return g.outHeight
        }
        var size = add(stem, IResNetConfig.inputSize)
        for block in blocks {
            let mid = add(block.conv1, size)
            if let ds = block.downsample { _ = add(ds, size) }
            size = add(block.conv2, mid)
        }
        total += 2 * Double(batch * config.fcInputs * config.embeddingSize)
        return total / Double(batch)
    }
}
