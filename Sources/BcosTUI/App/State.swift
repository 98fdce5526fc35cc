import BcosEngine
import BcosExplain

/// One model the explorer can switch to.
public struct ModelEntry: Sendable, Equatable {
    public var name: String
    public var path: String

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }
}

/// One layer of the current model as the layer list shows it.
public struct Layer: Sendable, Equatable {
    public var name: String
    /// `[1, C, H, W]` for the dataset's image size.
    public var shape: [Int]
    /// The paper's running index of B-cos layers (87 for "L87"), nil for other layers.
    public var paperIndex: Int?

    public init(name: String, shape: [Int], paperIndex: Int? = nil) {
        self.name = name
        self.shape = shape
        self.paperIndex = paperIndex
    }

    /// The width of the widest paper index label ("L121") among `layers`; 0 when none is a B-cos layer.
    static func labelWidth(_ layers: [Layer]) -> Int {
        layers.compactMap(\.paperIndex).max().map { "L\($0)".count } ?? 0
    }

    /// "L87 " for a B-cos layer, padded so names line up; `width` is the widest label's width.
    func label(width: Int) -> String {
        guard width > 0 else { return "" }
        return (paperIndex.map { "L\($0)" } ?? "").padding(toLength: width, withPad: " ", startingAt: 0) + " "
    }
}

/// The model's verdict on one image.
public struct Prediction: Sendable, Equatable {
    public var predicted: Int
    /// sigmoid(logit) of the predicted class (B-cos models are trained with BCE).
    public var confidence: Float

    public init(predicted: Int, confidence: Float) {
        self.predicted = predicted
        self.confidence = confidence
    }
}

/// Everything the inspect view shows for one (model, image, class), computed off the UI thread.
public struct InspectResult: Sendable {
    public var image: Int
    public var modelGeneration: Int
    public var target: Int
    public var logits: [Float]
    /// B-cos colour explanation composited over black, RGB bytes `[H, W, 3]`.
    public var colour: [UInt8]
    /// Signed contribution map in blue-white-red, RGB bytes `[H, W, 3]`.
    public var contributions: [UInt8]
    /// Top-1 minus top-2 contribution map in blue-white-red, `[H, W, 3]`.
    public var delta: [UInt8]
    public var deltaClasses: (Int, Int)
    public var completenessError: Double
    public var explainedValue: Double
    public var width: Int
    public var height: Int
}

/// A post-hoc method's map for the current image, shown next to the B-cos explanation.
public struct MethodResult: Sendable {
    public var image: Int
    public var modelGeneration: Int
    public var target: Int
    public var method: String
    /// Signed map in blue-white-red, RGB bytes `[H, W, 3]`.
    public var rgb: [UInt8]
    public var seconds: Double
}

/// One ranked neuron of a layer for the current image.
public struct NeuronResult: Sendable {
    public var channel: Int
    public var activation: Float
    public var y: Int
    public var x: Int
    /// Its colour explanation, RGB bytes `[H, W, 3]` at the input size.
    public var colour: [UInt8]
    /// Its signed contribution map in blue-white-red, `[H, W, 3]`.
    public var contributions: [UInt8]
    /// The part of the image its receptive field covers; tiles are zoomed to it.
    public var field: Pictures.Region
    public var completenessError: Double
}

/// What the neurons view draws for each neuron.
public enum NeuronTiles: Sendable {
    case colour, contributions
}

public struct NeuronsResult: Sendable {
    public var image: Int
    public var modelGeneration: Int
    public var layer: Int
    public var neurons: [NeuronResult]
    public var width: Int
    public var height: Int
}

/// Which images the browser lists.
public enum Filter: Sendable, Equatable {
    case all
    case trueClass(Int)
    case predictedClass(Int)
    case misclassified
}

public enum SortOrder: String, Sendable, CaseIterable {
    case index, confidenceDown = "confidence ↓", confidenceUp = "confidence ↑"
}

public enum Screen: Sendable, Equatable { case browser, inspect, neurons }

/// A modal overlay on top of the current screen.
public enum Overlay: Sendable, Equatable {
    case none
    case help
    case models(selection: Int)
    /// Type a class name (or number) to filter by; `predicted` filters by predicted class.
    case classSearch(query: String, predicted: Bool)
    case jump(query: String)
    case layers(selection: Int, query: String)
}

/// The explorer's whole state: a plain value, changed only by `reduce`.
public struct AppState: Sendable {
    public var width: Int
    public var height: Int
    public var datasetName: String
    public var classes: [String]
    public var labels: [Int]
    public var imageWidth: Int
    public var imageHeight: Int
    public var models: [ModelEntry]
    public var modelIndex: Int
    /// Bumped on every model switch; results of older generations are dropped.
    public var modelGeneration = 0
    /// Layer names and output shapes of the current model (for the neurons view).
    /// Every layer after the input: name, output shape `[1, C, H, W]`, and for B-cos layers the paper's running
    /// index (L87 of DenseNet-121), as `bcos info` lists them.
    public var layers: [Layer] = []
    public var predictions: [Prediction?]
    public var predictionsDone = 0

    public var screen: Screen = .browser
    public var overlay: Overlay = .none
    public var filter: Filter = .all
    public var sort: SortOrder = .index
    /// Position in the filtered, sorted list.
    public var cursor = 0
    /// First row of thumbnails shown.
    public var scrollRow = 0
    /// The image the inspect and neurons views show (dataset index).
    public var current = 0
    /// Class whose explanation is shown; nil = the predicted class.
    public var inspectClass: Int?
    public var inspect: InspectResult?
    /// The post-hoc methods shown beside B-cos in the inspect view: two slots (`o` cycles the first, `p` the
    /// second), nil when off; a method may fill both.
    public var methods: [String?] = [nil, nil]
    public var methodResults: [MethodResult?] = [nil, nil]
    /// The first comparison slot.
    public var method: String? {
        get { methods[0] }
        set { methods[0] = newValue }
    }
    public var methodResult: MethodResult? {
        get { methodResults[0] }
        set { methodResults[0] = newValue }
    }
    public var layerIndex = 0
    public var neuronCursor = 0
    /// Colour explanations or contribution maps in the neurons view (`c` toggles).
    public var neuronTiles = NeuronTiles.colour
    public var neurons: NeuronsResult?
    public var status = ""
    public var quit = false

    public init(width: Int, height: Int, datasetName: String, classes: [String], labels: [Int], imageWidth: Int,
                imageHeight: Int, models: [ModelEntry], modelIndex: Int) {
        self.width = width
        self.height = height
        self.datasetName = datasetName
        self.classes = classes
        self.labels = labels
        self.imageWidth = imageWidth
        self.imageHeight = imageHeight
        self.models = models
        self.modelIndex = modelIndex
        self.predictions = Array(repeating: nil, count: labels.count)
    }

    /// Dataset indices shown by the browser, in order.
    public var visible: [Int] {
        var list = labels.indices.filter { i in
            switch filter {
            case .all: return true
            case .trueClass(let k): return labels[i] == k
            case .predictedClass(let k): return predictions[i]?.predicted == k
            case .misclassified: return predictions[i].map { $0.predicted != labels[i] } ?? false
            }
        }
        switch sort {
        case .index: break
        case .confidenceDown: list.sort { (predictions[$0]?.confidence ?? -1) > (predictions[$1]?.confidence ?? -1) }
        case .confidenceUp: list.sort { (predictions[$0]?.confidence ?? 2) < (predictions[$1]?.confidence ?? 2) }
        }
        return list
    }

    /// The class the inspect view explains.
    public var explainedClass: Int? { inspectClass ?? predictions[current]?.predicted }

    public var filterDescription: String {
        switch filter {
        case .all: "all"
        case .trueClass(let k): "true = \(classes[k])"
        case .predictedClass(let k): "predicted = \(classes[k])"
        case .misclassified: "misclassified"
        }
    }
}
