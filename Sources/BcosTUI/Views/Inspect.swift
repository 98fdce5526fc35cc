import Foundation

/// Panel scale and arrangement for `count` images of `w x h` pixels in a `cols x rows` area.
func panelLayout(count: Int, w: Int, h: Int, cols: Int, rows: Int) -> (scale: Double, perRow: Int) {
    for scale in [4.0, 3.0, 2.0, 1.5, 1.0, 0.75, 0.5, 0.375, 0.25, 0.1875, 0.125, 0.09375, 0.0625] {
        for perRow in [count, (count + 1) / 2] {
            let lines = (count + perRow - 1) / perRow
            let needW = perRow * (max(panelCols(w, scale: scale), 12) + 2)
            let needH = lines * (panelRows(h, scale: scale) + 1)
            if needW <= cols && needH <= rows { return (scale, perRow) }
        }
    }
    return (0.0625, count)
}

/// One image: the input, its B-cos colour explanation, its contribution map, the top-2 Δ map, and the logits.
func renderInspect(_ s: AppState, gallery: Gallery, into b: inout CellBuffer) {
    let logitsWidth = min(34, max(24, s.width / 3))
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

/// Class probabilities (sigmoid of the logits) as bars, best first; the true class marked, the explained one highlighted.
func renderLogits(_ s: AppState, x: Int, y: Int, width: Int, height: Int, into b: inout CellBuffer) {
    b.put("logit  p=σ(logit)", x: x, y: y, fg: Theme.accent, bold: true, maxWidth: width)
    guard let logits = s.inspect?.logits else {
        b.put("…", x: x, y: y + 1, fg: Theme.muted)
        return
    }
    let order = logits.indices.sorted { logits[$0] > logits[$1] }
    let nameW = min(12, s.classes.map(\.count).max() ?? 8)
    let barW = max(4, width - nameW - 10)
    for (row, k) in order.prefix(max(1, height - 2)).enumerated() {
        let p = 1 / (1 + exp(-Double(logits[k])))
        let mark = k == s.labels[s.current] ? "*" : " "
        let yy = y + 1 + row
        let explained = k == s.inspect?.target
        b.put(mark + String(s.classes[k].prefix(nameW)).padding(toLength: nameW, withPad: " ", startingAt: 0), x: x, y: yy,
              fg: explained ? Theme.accent : nil, bold: explained, maxWidth: nameW + 1)
        let filled = Int((p * Double(barW)).rounded())
        for i in 0..<barW {
            b[x: x + nameW + 2 + i, y: yy] = Cell(char: i < filled ? "█" : "░", fg: i < filled ? Theme.bar : Theme.barTrack, bg: nil)
        }
        b.put(String(format: "%.2f", p), x: x + nameW + 3 + barW, y: yy, maxWidth: 5)
    }
    if order.count > height - 2 { b.put("+\(order.count - (height - 2)) more", x: x, y: y + height - 1, fg: Theme.muted) }
}
