import Foundation

/// Panel scale and arrangement for `count` images of `w x h` pixels in a `cols x rows` area: the largest scale (up
/// to `maxScale`) at which they fit, over every number of panels per row. Each panel is a title row and the image
/// (two pixels per cell row), at least 12 columns wide for its title, with 2 columns between panels.
func panelLayout(count: Int, w: Int, h: Int, cols: Int, rows: Int, maxScale: Double = 8) -> (scale: Double, perRow: Int) {
    func fits(_ scale: Double, _ perRow: Int) -> Bool {
        let lines = (count + perRow - 1) / perRow
        return perRow * (max(panelCols(w, scale: scale), 12) + 2) <= cols && lines * (panelRows(h, scale: scale) + 1) <= rows
    }
    var best = (scale: 0.0, perRow: count)
    for perRow in 1...max(1, count) {
        let lines = (count + perRow - 1) / perRow
        let byWidth = Double(cols / perRow - 2) / Double(w), byHeight = Double(2 * (rows / lines - 1)) / Double(h)
        var scale = min(maxScale, byWidth, byHeight)
        // Rounding to whole cells can overshoot by one: step down until it fits.
        while scale > best.scale && scale > 0 && !fits(scale, perRow) { scale *= 0.97 }
        if scale > best.scale && fits(scale, perRow) { best = (scale, perRow) }
    }
    return best.scale > 0 ? best : (1.0 / Double(max(w, h)), count)
}

/// One image: the input, its B-cos colour explanation, its contribution map, the top-2 Δ map, and the logits.
func renderInspect(_ s: AppState, gallery: Gallery, into b: inout CellBuffer) {
    // The logits take what their full class names need (up to a third of the screen); the maps the rest.
    let longest = s.classes.map(\.count).max() ?? 8
    let logitsWidth = max(min(24, s.width / 3), min(s.width / 3, LogitColumns.preferredWidth(longest: longest)))
    let areaW = s.width - logitsWidth - 2, areaH = s.height - 6
    let count = 4 + s.methods.compactMap { $0 }.count
    let (scale, perRow) = panelLayout(count: count, w: s.imageWidth, h: s.imageHeight, cols: areaW, rows: areaH)
    let r = s.inspect
    let target = r?.target ?? s.explainedClass
    let targetName = target.map { s.classes[$0] } ?? "…"
    let delta = r.map { "Δ \(s.classes[$0.deltaClasses.0]) − \(s.classes[$0.deltaClasses.1])" } ?? "Δ top-1 − top-2"
    var panels: [(String, [UInt8]?)] = [
        ("image", gallery.rgb(s.current)), ("B-cos: \(targetName)", r?.colour),
        ("contributions", r?.contributions), (delta, r?.delta),
    ]
    for slot in 0..<2 {
        guard let m = s.methods[slot] else { continue }
        let done = s.methodResults[slot].map { String(format: " %.1fs", $0.seconds) } ?? ""
        panels.append((m + done, s.methodResults[slot]?.rgb))
    }
    let pw = max(panelCols(s.imageWidth, scale: scale), 12) + 2, ph = panelRows(s.imageHeight, scale: scale) + 1
    for (i, (title, rgb)) in panels.enumerated() {
        panel(rgb, width: s.imageWidth, height: s.imageHeight, scale: scale, title: title,
              x: 1 + (i % perRow) * pw, y: 1 + (i / perRow) * ph, titleWidth: pw - 1, into: &b)
    }
    let lines = (count + perRow - 1) / perRow
    var y = 1 + lines * ph
    let truth = s.labels[s.current]
    let predicted = s.predictions[s.current].map { " · predicted: \(s.classes[$0.predicted])" } ?? ""
    b.put("true class: \(s.classes[truth])\(predicted) · explained: \(targetName)", x: 1, y: y, maxWidth: s.width - 2)
    y += 1
    if let r {
        let total = r.explainedValue
        b.put(String(format: "completeness: Σ x·W(x) = logit − bias = %.5g (error %.1e)", total, r.completenessError),
              x: 1, y: y, fg: r.completenessError <= 1e-3 * max(1, abs(total)) ? Theme.good : Theme.bad,
              maxWidth: s.width - 2)
    } else {
        b.put("explaining…", x: 1, y: y, fg: Theme.muted)
    }
    renderLogits(s, x: s.width - logitsWidth, y: 1, width: logitsWidth, height: max(3, lines * ph), into: &b)
}

/// The columns of the logits panel: true-class mark, name, bar, probability and, where there is room, the logit.
/// Full names come first, then the logit, then the bar's length.
struct LogitColumns {
    /// Everything but the name and the bar: mark, two gaps, "0.99".
    static let fixed = 7
    /// The logit's column, with its gap.
    static let logit = 8
    /// What a panel showing every column needs for names of `longest` characters and a 10-cell bar.
    static func preferredWidth(longest: Int) -> Int { longest + fixed + 10 + logit }

    let nameW: Int, barW: Int, showsLogit: Bool

    init(width: Int, longest: Int) {
        nameW = max(4, min(longest, width - Self.fixed - 4))
        let rest = width - nameW - Self.fixed
        showsLogit = rest >= 4 + Self.logit
        barW = max(4, rest - (showsLogit ? Self.logit : 0))
    }

    /// The logit as printed in its 7 columns.
    static func value(_ logit: Float) -> String {
        let text = String(format: "%.3g", logit)
        return String(repeating: " ", count: max(0, 7 - text.count)) + text
    }
}

/// Class probabilities (sigmoid of the logits) as bars with their logits, best first; the true class marked, the
/// explained one highlighted. Names are shown whole where the panel is wide enough.
func renderLogits(_ s: AppState, x: Int, y: Int, width: Int, height: Int, into b: inout CellBuffer) {
    guard let logits = s.inspect?.logits else {
        b.put("class probabilities", x: x, y: y, fg: Theme.accent, bold: true, maxWidth: width)
        b.put("…", x: x, y: y + 1, fg: Theme.muted)
        return
    }
    let order = logits.indices.sorted { logits[$0] > logits[$1] }
    let cols = LogitColumns(width: width, longest: s.classes.map(\.count).max() ?? 8)
    let header = " class".padding(toLength: cols.nameW + 2, withPad: " ", startingAt: 0)
        + "p=σ(logit)".padding(toLength: cols.barW + 5, withPad: " ", startingAt: 0) + (cols.showsLogit ? "   logit" : "")
    b.put(header, x: x, y: y, fg: Theme.accent, bold: true, maxWidth: width)
    for (row, k) in order.prefix(max(1, height - 2)).enumerated() {
        let p = 1 / (1 + exp(-Double(logits[k])))
        let mark = k == s.labels[s.current] ? "*" : " "
        let yy = y + 1 + row
        let explained = k == s.inspect?.target
        b.put(mark + String(s.classes[k].prefix(cols.nameW)).padding(toLength: cols.nameW, withPad: " ", startingAt: 0),
              x: x, y: yy, fg: explained ? Theme.accent : nil, bold: explained, maxWidth: cols.nameW + 1)
        let filled = Int((p * Double(cols.barW)).rounded())
        for i in 0..<cols.barW {
            b[x: x + cols.nameW + 2 + i, y: yy] = Cell(char: i < filled ? "█" : "░", fg: i < filled ? Theme.bar : Theme.barTrack,
                                                      bg: nil)
        }
        b.put(String(format: "%.2f", p) + (cols.showsLogit ? " " + LogitColumns.value(logits[k]) : ""),
              x: x + cols.nameW + 3 + cols.barW, y: yy, maxWidth: width - cols.nameW - 3 - cols.barW)
    }
    if order.count > height - 2 { b.put("+\(order.count - (height - 2)) more", x: x, y: y + height - 1, fg: Theme.muted) }
}
