import Foundation

/// Where views get dataset pixels from: RGB bytes `[H, W, 3]` of image `i`.
public struct Gallery: Sendable {
    public let rgb: @Sendable (Int) -> [UInt8]

    public init(rgb: @escaping @Sendable (Int) -> [UInt8]) { self.rgb = rgb }
}

/// Colours of the chrome.
enum Theme {
    static let accent = RGB(95, 175, 255)
    static let good = RGB(95, 215, 95)
    static let bad = RGB(255, 95, 95)
    static let muted = RGB(150, 150, 150)
    static let bar = RGB(95, 135, 215)
    static let barTrack = RGB(60, 60, 60)
    static let header = RGB(30, 40, 60)
}

/// Smallest terminal the explorer draws in; below it a "terminal too small" screen.
public let minimumSize = (width: 60, height: 18)

/// Draws the whole screen for `s`. Pure: the same state and gallery give the same cells.
public func render(_ s: AppState, gallery: Gallery, into buffer: inout CellBuffer) {
    buffer = CellBuffer(width: s.width, height: s.height)
    if s.width < minimumSize.width || s.height < minimumSize.height {
        renderTooSmall(s, into: &buffer)
        return
    }
    renderHeader(s, into: &buffer)
    switch s.screen {
    case .browser: renderBrowser(s, gallery: gallery, into: &buffer)
    case .inspect: renderInspect(s, gallery: gallery, into: &buffer)
    case .neurons: renderNeurons(s, gallery: gallery, into: &buffer)
    }
    renderFooter(s, into: &buffer)
    switch s.overlay {
    case .none, .classSearch, .jump: break
    case .help: renderHelp(s, into: &buffer)
    case .models(let sel): renderModels(s, selection: sel, into: &buffer)
    case .layers(let sel, let query): renderLayerPicker(s, selection: sel, query: query, into: &buffer)
    }
}

func renderTooSmall(_ s: AppState, into b: inout CellBuffer) {
    let lines = ["terminal too small", "\(s.width)x\(s.height), need at least \(minimumSize.width)x\(minimumSize.height)",
                 "enlarge the window, or q to quit"]
    for (i, line) in lines.enumerated() {
        let y = max(0, s.height / 2 - 1 + i)
        b.put(line, x: max(0, (s.width - line.count) / 2), y: y, bold: i == 0)
    }
}

func renderHeader(_ s: AppState, into b: inout CellBuffer) {
    b.fill(x: 0, y: 0, width: s.width, height: 1, with: Cell(char: " ", fg: nil, bg: Theme.header))
    let model = s.models.indices.contains(s.modelIndex) ? s.models[s.modelIndex].name : "no model"
    let screen: String
    switch s.screen {
    case .browser: screen = "browse"
    case .inspect: screen = "inspect #\(s.current)"
    case .neurons: screen = "neurons #\(s.current)"
    }
    var text = " bcos │ \(screen) │ \(model) │ \(s.datasetName) (\(s.labels.count))"
    if s.predictionsDone < s.labels.count {
        text += " │ predicting \(s.predictionsDone * 100 / max(1, s.labels.count))%"
    } else {
        let correct = s.labels.indices.filter { s.predictions[$0]?.predicted == s.labels[$0] }.count
        text += String(format: " │ accuracy %.2f%%", Double(correct) * 100 / Double(max(1, s.labels.count)))
    }
    b.put(text, x: 0, y: 0, fg: RGB(230, 230, 230), bg: Theme.header, bold: true, maxWidth: s.width)
}

func renderFooter(_ s: AppState, into b: inout CellBuffer) {
    let hints: String
    switch s.screen {
    case .browser: hints = "←↑↓→ move  ⏎ inspect  / class  p predicted  x wrong  a all  s sort  : jump  m model  ? help  q quit"
    case .inspect: hints = "←→ image  ↑↓ class  t top  o/p compare methods  n neurons  e export  Esc back  ? help"
    case .neurons: hints = "↑↓ layer  / find layer  ←→ neuron  c colour/contributions  PgUp/PgDn image  e export  Esc back  ? help"
    }
    var status = s.status
    switch s.overlay {
    case .classSearch(let q, let predicted): status = (predicted ? "filter by predicted class: " : "filter by true class: ") + q + "▏"
    case .jump(let q): status = "jump to image: " + q + "▏"
    default: break
    }
    b.put(status, x: 1, y: s.height - 2, fg: Theme.accent, maxWidth: s.width - 2)
    b.put(hints, x: 0, y: s.height - 1, fg: Theme.muted, dim: true, maxWidth: s.width)
}

/// Nearest-neighbour resampling of RGB bytes `[h, w, 3]` to `[th, tw, 3]`.
func resample(_ rgb: [UInt8], width w: Int, height h: Int, toWidth tw: Int, toHeight th: Int) -> [UInt8] {
    if tw == w && th == h { return rgb }
    var out = [UInt8](repeating: 0, count: tw * th * 3)
    for y in 0..<th {
        let sy = min(h - 1, y * h / th)
        for x in 0..<tw {
            let sx = min(w - 1, x * w / tw), src = (sy * w + sx) * 3, dst = (y * tw + x) * 3
            out[dst] = rgb[src]
            out[dst + 1] = rgb[src + 1]
            out[dst + 2] = rgb[src + 2]
        }
    }
    return out
}

/// Draws an image scaled by `scale` (pixels per image pixel; 0.5 halves) with its title above.
func panel(_ rgb: [UInt8]?, width w: Int, height h: Int, scale: Double, title: String, x: Int, y: Int,
           titleWidth: Int? = nil, into b: inout CellBuffer) {
    let tw = max(1, Int((Double(w) * scale).rounded())), th = max(1, Int((Double(h) * scale).rounded()))
    b.put(title, x: x, y: y, fg: Theme.accent, bold: true, maxWidth: titleWidth ?? max(tw, 10))
    guard let rgb else {
        b.put("computing…", x: x, y: y + 1, fg: Theme.muted)
        return
    }
    b.drawImage(resample(rgb, width: w, height: h, toWidth: tw, toHeight: th), width: tw, height: th, x: x, y: y + 1)
}

/// Cell rows an image of `h` pixels takes at `scale`.
func panelRows(_ h: Int, scale: Double) -> Int { (max(1, Int((Double(h) * scale).rounded())) + 1) / 2 }
func panelCols(_ w: Int, scale: Double) -> Int { max(1, Int((Double(w) * scale).rounded())) }
