import ClusterCore
import FeatureStore
import Foundation
import IResNet
import Imaging

/// What `magfleet serve` answers from: the store's index, catalog and batcher, and the
/// optional image embedder. Request handling (`SearchServer`) turns HTTP into calls here.
///
/// Sendable: every part is immutable or guards itself.
final class SearchService: Sendable {
    let store: String
    let provenance: StoreProvenance
    let index: NearestNeighbors
    let catalog: StoreCatalog
    let batcher: SearchBatcher
    let embedder: ImageSearchEmbedder?
    let imageRoot: URL?
    let loadSeconds: Double

    init(store: String, provenance: StoreProvenance, index: NearestNeighbors, catalog: StoreCatalog, batcher: SearchBatcher,
         embedder: ImageSearchEmbedder?, imageRoot: URL?, loadSeconds: Double) {
        self.store = store
        self.provenance = provenance
        self.index = index
        self.catalog = catalog
        self.batcher = batcher
        self.embedder = embedder
        self.imageRoot = imageRoot
        self.loadSeconds = loadSeconds
    }

    /// The label id of a name in /label_names or an id (-1: unlabeled).
    func labelID(_ text: String) -> Int64? {
        if let i = provenance.labelNames.firstIndex(of: text) { return Int64(i) }
        if let id = Int64(text), id >= -1 { return id }
        return nil
    }

    func labelName(_ id: Int64) -> String? {
        id >= 0 && Int(id) < provenance.labelNames.count ? provenance.labelNames[Int(id)] : nil
    }

    /// The file behind a stored path under --image-root, when it is there and stays inside it.
    func imageFile(ofRow row: Int) -> URL? {
        guard let imageRoot, row >= 0, row < catalog.count else { return nil }
        let path = index.storedPath(ofRow: row)
        guard !path.isEmpty, !path.split(separator: "/").contains("..") else { return nil }
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : imageRoot.appendingPathComponent(path)
        return FileManager.default.isReadableFile(atPath: url.path) ? url : nil
    }
}

/// Embeds uploaded images with the model that made the store (checked at start, as `query
/// --image` does), one at a time.
///
/// Sendable: the network is used under `lock` only.
final class ImageSearchEmbedder: @unchecked Sendable {
    private let lock = NSLock()
    private let embedder: IResNetEmbedder
    private let loader: ImagingLoader

    /// Loads `model` and refuses one that did not make the store.
    init(model: String, provenance: StoreProvenance) throws {
        guard let preset = Preprocessing.Preset(rawValue: provenance.preprocessingPreset) else {
            throw FeatureStoreError.badQuery("the store's preprocessing \(provenance.preprocessingPreset.debugDescription) is not one this build knows")
        }
        let network = try IResNetEmbedder.queryNetwork(model: model, for: provenance)
        let preprocessing = Preprocessing(preset: preset, flip: provenance.flip)
        loader = ImagingLoader(preprocessing: preprocessing)
        embedder = IResNetEmbedder(network: network, preprocessing: preprocessing)
    }

    /// The raw embedding of an encoded image, or why not (not an image, undecodable).
    func embed(_ bytes: [UInt8]) throws -> [Float] {
        try lock.withLock {
            let input: [Float]
            switch loader.load(ImageInput(path: "upload", bytes: bytes)) {
            case let .success(value): input = value
            case let .failure(failure): throw FeatureStoreError.badQuery("the upload is not an image this build decodes: \(failure.reason)")
            }
            return try embedder.embed(input, count: 1)
        }
    }
}
