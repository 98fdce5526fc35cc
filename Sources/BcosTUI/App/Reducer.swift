import BcosExplain

/// Work the reducer asks for; the explorer runs it off the UI thread and answers with actions.
public enum Effect: Sendable, Equatable {
    /// Load `models[index]`, then predict every image.
    case loadModel(index: Int, generation: Int)
    /// Explanations of one image for the inspect view (class nil = predicted).
    case inspect(image: Int, target: Int?, generation: Int)
    /// The top neurons of a layer for one image.
    case neurons(image: Int, layer: Int, generation: Int)
    /// Post-hoc methods' maps of one image's class, to compare with B-cos (computed in order, each answered).
    case methods(names: [String], image: Int, target: Int, generation: Int)
    /// Write the current view's pictures as PNGs.
    case export(image: Int, screen: Screen)
}

/// Everything that can happen to the explorer.
public enum Action: Sendable {
    case key(Key)
    case resize(width: Int, height: Int)
    case modelReady(generation: Int, layers: [Layer])
    case modelFailed(generation: Int, message: String)
    case predictions(generation: Int, start: Int, results: [Prediction])
    case inspectReady(InspectResult)
    case neuronsReady(NeuronsResult)
    case methodReady(MethodResult)
    case status(String)
}

/// Geometry of the browser grid for a state (shared by the reducer, for paging, and the view).
public struct BrowserLayout: Sendable, Equatable {
    /// Image pixels per thumbnail pixel along each axis: 1 (full size), 2 (halved), ... (ImageNet photos).
    public var shrink: Int
    public var thumbWidth: Int
    public var thumbRows: Int
    public var columns: Int
    public var rows: Int

    public init(_ s: AppState) {
        let usableH = max(1, s.height - 3)
        func fit(_ f: Int) -> (Int, Int, Int, Int) {
            let tw = max(1, (s.imageWidth + f - 1) / f)
            let ph = max(1, (s.imageHeight + f - 1) / f)
            let tr = (ph + 1) / 2
            let cols = max(1, (s.width + 1) / (max(tw, 10) + 1))
            let rows = max(1, usableH / (tr + 1))
            return (tw, tr, cols, rows)
        }
        // The smallest shrink that shows at least 6 thumbnails, none wider than a third of the screen.
        var f = 1
        var (tw, tr, cols, rows) = fit(1)
        while f < 64 && (cols * rows < 6 || tr + 1 > usableH || tw > max(32, s.width / 3)) {
            f += 1
            (tw, tr, cols, rows) = fit(f)
        }
        shrink = f
        thumbWidth = tw
        thumbRows = tr
        columns = cols
        self.rows = rows
    }

    public var perPage: Int { columns * rows }
}

/// The explorer's state machine: pure, so every view can be tested without a terminal.
public func reduce(_ s: inout AppState, _ action: Action) -> [Effect] {
    switch action {
    case .resize(let w, let h):
        s.width = w
        s.height = h
        clampScroll(&s)
        return []
    case .status(let text):
        s.status = text
        return []
    case .modelReady(let gen, let layers):
        guard gen == s.modelGeneration else { return [] }
        s.layers = layers
        if s.status.hasPrefix("loading") { s.status = "" }
        s.layerIndex = min(s.layerIndex, max(0, layers.count - 1))
        if s.layerIndex == 0 { s.layerIndex = max(0, layers.count / 2) }
        return refreshCurrent(s)
    case .modelFailed(let gen, let message):
        guard gen == s.modelGeneration else { return [] }
        s.status = "cannot load model: \(message)"
        return []
    case .predictions(let gen, let start, let results):
        guard gen == s.modelGeneration else { return [] }
        for (i, p) in results.enumerated() where start + i < s.predictions.count { s.predictions[start + i] = p }
        s.predictionsDone = s.predictions.reduce(0) { $0 + ($1 == nil ? 0 : 1) }
        // The inspect view waits for the prediction of its image when it explains the predicted class.
        if s.screen != .browser, s.inspect == nil, s.inspectClass == nil,
           (start..<(start + results.count)).contains(s.current) {
            return [.inspect(image: s.current, target: nil, generation: s.modelGeneration)]
        }
        return []
    case .inspectReady(let r):
        guard r.modelGeneration == s.modelGeneration, r.image == s.current else { return [] }
        s.inspect = r
        return methodEffect(s)
    case .methodReady(let r):
        guard r.modelGeneration == s.modelGeneration, r.image == s.current, r.target == s.inspect?.target else { return [] }
        for slot in 0..<2 where s.methods[slot] == r.method { s.methodResults[slot] = r }
        return []
    case .neuronsReady(let r):
        guard r.modelGeneration == s.modelGeneration, r.image == s.current, r.layer == s.layerIndex else { return [] }
        s.neurons = r
        s.neuronCursor = min(s.neuronCursor, max(0, r.neurons.count - 1))
        return []
    case .key(let key):
        return handleKey(&s, key)
    }
}

private func handleKey(_ s: inout AppState, _ key: Key) -> [Effect] {
    if key == .ctrlC { s.quit = true; return [] }
    switch s.overlay {
    case .none: break
    case .help:
        if key == .char("q") { s.quit = true } else { s.overlay = .none }
        return []
    case .models(let sel):
        switch key {
        case .up, .char("k"): s.overlay = .models(selection: max(0, sel - 1))
        case .down, .char("j"): s.overlay = .models(selection: min(s.models.count - 1, sel + 1))
        case .enter:
            s.overlay = .none
            if sel != s.modelIndex { return switchModel(&s, to: sel) }
        case .escape, .char("m"), .char("q"): s.overlay = .none
        default: break
        }
        return []
    case .classSearch(let query, let predicted):
        switch key {
        case .escape: s.overlay = .none
        case .backspace: s.overlay = .classSearch(query: String(query.dropLast()), predicted: predicted)
        case .char(let c): s.overlay = .classSearch(query: query + String(c), predicted: predicted)
        case .enter:
            s.overlay = .none
            if let k = matchClass(query, s.classes) {
                s.filter = predicted ? .predictedClass(k) : .trueClass(k)
                s.cursor = 0
                s.scrollRow = 0
                s.status = "filter: \(s.filterDescription)"
            } else {
                s.status = "no class matches '\(query)'"
            }
        default: break
        }
        return []
    case .jump(let query):
        switch key {
        case .escape: s.overlay = .none
        case .backspace: s.overlay = .jump(query: String(query.dropLast()))
        case .char(let c) where c.isNumber: s.overlay = .jump(query: query + String(c))
        case .enter:
            s.overlay = .none
            if let i = Int(query), i >= 0, i < s.labels.count {
                s.filter = .all
                s.sort = .index
                s.cursor = i
                s.current = i
                clampScroll(&s)
                if s.screen != .browser { return openCurrent(&s) }
            } else {
                s.status = "no image \(query); indices are 0...\(s.labels.count - 1)"
            }
        default: break
        }
        return []
    case .layers(let sel, let query):
        let matches = layerMatches(s, query)
        switch key {
        case .escape: s.overlay = .none
        case .up: s.overlay = .layers(selection: max(0, sel - 1), query: query)
        case .down: s.overlay = .layers(selection: min(max(0, matches.count - 1), sel + 1), query: query)
        case .pageUp: s.overlay = .layers(selection: max(0, sel - 10), query: query)
        case .pageDown: s.overlay = .layers(selection: min(max(0, matches.count - 1), sel + 10), query: query)
        case .backspace: s.overlay = .layers(selection: 0, query: String(query.dropLast()))
        case .char(let c): s.overlay = .layers(selection: 0, query: query + String(c))
        case .enter:
            s.overlay = .none
            if matches.indices.contains(sel) {
                s.layerIndex = matches[sel]
                s.neurons = nil
                s.neuronCursor = 0
                return [.neurons(image: s.current, layer: s.layerIndex, generation: s.modelGeneration)]
            }
        default: break
        }
        return []
    }
    switch key {
    case .char("q"): s.quit = true; return []
    case .char("?"): s.overlay = .help; return []
    case .char("m"): s.overlay = .models(selection: s.modelIndex); return []
    case .char(":"): s.overlay = .jump(query: ""); return []
    case .tab:
        switch s.screen {
        case .browser: return openCurrent(&s, screen: .inspect)
        case .inspect: return openCurrent(&s, screen: .neurons)
        case .neurons: s.screen = .browser; return []
        }
    case .backTab:
        switch s.screen {
        case .browser: return openCurrent(&s, screen: .neurons)
        case .inspect: s.screen = .browser; return []
        case .neurons: return openCurrent(&s, screen: .inspect)
        }
    case .escape:
        if s.screen != .browser { s.screen = .browser }
        return []
    default: break
    }
    switch s.screen {
    case .browser: return browserKey(&s, key)
    case .inspect: return inspectKey(&s, key)
    case .neurons: return neuronsKey(&s, key)
    }
}

private func browserKey(_ s: inout AppState, _ key: Key) -> [Effect] {
    let count = s.visible.count
    let layout = BrowserLayout(s)
    var c = s.cursor
    switch key {
    case .left, .char("h"): c -= 1
    case .right, .char("l"): c += 1
    case .up, .char("k"): c -= layout.columns
    case .down, .char("j"): c += layout.columns
    case .pageUp: c -= layout.perPage
    case .pageDown: c += layout.perPage
    case .home, .char("g"): c = 0
    case .end, .char("G"): c = count - 1
    case .wheelUp: c -= layout.columns
    case .wheelDown: c += layout.columns
    case .mouseClick(let x, let y):
        let col = x / (max(layout.thumbWidth, 10) + 1), row = (y - 1) / (layout.thumbRows + 1)
        if y >= 1, col < layout.columns, row < layout.rows {
            let i = (s.scrollRow + row) * layout.columns + col
            if i < count {
                if i == s.cursor { return openCurrent(&s, screen: .inspect) }
                c = i
            }
        }
    case .enter:
        return openCurrent(&s, screen: .inspect)
    case .char("/"): s.overlay = .classSearch(query: "", predicted: false); return []
    case .char("p"): s.overlay = .classSearch(query: "", predicted: true); return []
    case .char("x"):
        s.filter = s.filter == .misclassified ? .all : .misclassified
        s.cursor = 0
        s.scrollRow = 0
        s.status = "filter: \(s.filterDescription)"
        return []
    case .char("a"):
        s.filter = .all
        s.cursor = 0
        s.scrollRow = 0
        s.status = "filter: all"
        return []
    case .char("s"):
        let all = SortOrder.allCases
        s.sort = all[(all.firstIndex(of: s.sort)! + 1) % all.count]
        s.status = "sort: \(s.sort.rawValue)"
        return []
    case .char("n"):
        return openCurrent(&s, screen: .neurons)
    default: return []
    }
    s.cursor = max(0, min(max(0, count - 1), c))
    clampScroll(&s)
    return []
}

private func inspectKey(_ s: inout AppState, _ key: Key) -> [Effect] {
    switch key {
    case .left, .char("h"), .right, .char("l"), .pageUp, .pageDown:
        let step = (key == .left || key == .char("h") || key == .pageUp) ? -1 : 1
        let list = s.visible
        guard !list.isEmpty else { return [] }
        s.cursor = max(0, min(list.count - 1, s.cursor + step))
        clampScroll(&s)
        return openCurrent(&s, screen: .inspect)
    case .up, .char("k"), .down, .char("j"):
        let k = s.classes.count
        let now = s.explainedClass ?? 0
        s.inspectClass = ((now + ((key == .up || key == .char("k")) ? -1 : 1)) % k + k) % k
        s.inspect = nil
        s.methodResults = [nil, nil]
        return [.inspect(image: s.current, target: s.inspectClass, generation: s.modelGeneration)]
    case .char("t"):
        s.inspectClass = nil
        s.inspect = nil
        s.methodResults = [nil, nil]
        return [.inspect(image: s.current, target: nil, generation: s.modelGeneration)]
    case .char("o"), .char("O"), .char("p"), .char("P"):
        // Cycle a post-hoc method shown next to B-cos (o: first slot, p: second): none, then every method the
        // library offers.
        let slot = key == .char("o") || key == .char("O") ? 0 : 1
        let others = Methods.postHoc
        let at = s.methods[slot].flatMap { others.firstIndex(of: $0) }
        let step = key == .char("o") || key == .char("p") ? 1 : -1
        let next = ((at.map { $0 + 1 } ?? 0) + step + others.count + 1) % (others.count + 1)
        s.methods[slot] = next == 0 ? nil : others[next - 1]
        s.methodResults[slot] = nil
        if let m = s.methods[slot], let other = s.methodResults[1 - slot], other.method == m { s.methodResults[slot] = other }
        let shown = s.methods.compactMap { $0 }
        s.status = shown.isEmpty ? "post-hoc comparison off" : "comparing B-cos with " + shown.joined(separator: " and ")
        return methodEffect(s)
    case .char("n"):
        return openCurrent(&s, screen: .neurons)
    case .char("e"):
        return [.export(image: s.current, screen: .inspect)]
    default: return []
    }
}

private func neuronsKey(_ s: inout AppState, _ key: Key) -> [Effect] {
    switch key {
    case .up, .char("k"), .down, .char("j"):
        guard !s.layers.isEmpty else { return [] }
        let step = (key == .up || key == .char("k")) ? -1 : 1
        s.layerIndex = max(0, min(s.layers.count - 1, s.layerIndex + step))
        s.neurons = nil
        s.neuronCursor = 0
        return [.neurons(image: s.current, layer: s.layerIndex, generation: s.modelGeneration)]
    case .left, .char("h"):
        s.neuronCursor = max(0, s.neuronCursor - 1)
    case .right, .char("l"):
        s.neuronCursor = min(max(0, (s.neurons?.neurons.count ?? 1) - 1), s.neuronCursor + 1)
    case .char("L"), .char("/"):
        s.overlay = .layers(selection: max(0, s.layerIndex), query: "")
    case .char("c"):
        s.neuronTiles = s.neuronTiles == .colour ? .contributions : .colour
        s.status = s.neuronTiles == .colour ? "neurons: colour explanations" : "neurons: contribution maps"
    case .pageUp, .pageDown:
        let list = s.visible
        guard !list.isEmpty else { return [] }
        s.cursor = max(0, min(list.count - 1, s.cursor + (key == .pageUp ? -1 : 1)))
        clampScroll(&s)
        return openCurrent(&s, screen: .neurons)
    case .char("e"):
        return [.export(image: s.current, screen: .neurons)]
    default: break
    }
    return []
}

/// Opens the image under the cursor in `screen` (or the current screen) and asks for its explanations.
private func openCurrent(_ s: inout AppState, screen: Screen? = nil) -> [Effect] {
    let list = s.visible
    guard !list.isEmpty else {
        s.status = "no images match the filter (a: show all)"
        return []
    }
    s.cursor = max(0, min(list.count - 1, s.cursor))
    let image = list[s.cursor]
    if let screen { s.screen = screen }
    if image != s.current {
        s.current = image
        s.inspect = nil
        s.neurons = nil
        s.inspectClass = nil
        s.methodResults = [nil, nil]
    }
    return refreshCurrent(s)
}

/// Asks for the comparison method's map once the B-cos explanation (and so the class) is known.
private func methodEffect(_ s: AppState) -> [Effect] {
    guard s.screen == .inspect, let r = s.inspect else { return [] }
    var names = [String]()
    for slot in 0..<2 {
        if let m = s.methods[slot], s.methodResults[slot] == nil, !names.contains(m) { names.append(m) }
    }
    return names.isEmpty ? [] : [.methods(names: names, image: s.current, target: r.target, generation: s.modelGeneration)]
}

/// The effects that fill the current screen for the current image.
private func refreshCurrent(_ s: AppState) -> [Effect] {
    switch s.screen {
    case .browser: return []
    case .inspect:
        if s.inspect != nil { return [] }
        if s.inspectClass == nil && s.predictions[s.current] == nil { return [] }  // waits for the prediction
        return [.inspect(image: s.current, target: s.inspectClass, generation: s.modelGeneration)]
    case .neurons:
        if s.neurons != nil || s.layers.isEmpty { return [] }
        return [.neurons(image: s.current, layer: s.layerIndex, generation: s.modelGeneration)]
    }
}

private func switchModel(_ s: inout AppState, to index: Int) -> [Effect] {
    s.modelIndex = index
    s.modelGeneration += 1
    s.predictions = Array(repeating: nil, count: s.labels.count)
    s.predictionsDone = 0
    s.inspect = nil
    s.neurons = nil
    s.inspectClass = nil
    s.methodResults = [nil, nil]
    s.layers = []
    s.status = "loading \(s.models[index].name) ..."
    return [.loadModel(index: index, generation: s.modelGeneration)]
}

/// Keeps the cursor's row on screen.
private func clampScroll(_ s: inout AppState) {
    let layout = BrowserLayout(s)
    let row = s.cursor / layout.columns
    if row < s.scrollRow { s.scrollRow = row }
    if row >= s.scrollRow + layout.rows { s.scrollRow = row - layout.rows + 1 }
    s.scrollRow = max(0, s.scrollRow)
}

/// The class whose name starts with (or equals) `query`, case-insensitively, or a class number.
func matchClass(_ query: String, _ classes: [String]) -> Int? {
    let q = query.lowercased()
    if q.isEmpty { return nil }
    if let i = classes.firstIndex(where: { $0.lowercased() == q }) { return i }
    if let i = classes.firstIndex(where: { $0.lowercased().hasPrefix(q) }) { return i }
    if let i = classes.firstIndex(where: { $0.lowercased().contains(q) }) { return i }
    if let n = Int(q), classes.indices.contains(n) { return n }
    return nil
}

/// Indices of the layers whose name contains `query` (all when empty).
func layerMatches(_ s: AppState, _ query: String) -> [Int] {
    s.layers.indices.filter {
        query.isEmpty || s.layers[$0].name.lowercased().contains(query.lowercased())
            || s.layers[$0].paperIndex.map { "L\($0)".caseInsensitiveCompare(query) == .orderedSame } == true
    }
}
