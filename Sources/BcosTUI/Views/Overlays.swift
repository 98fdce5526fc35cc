/// Key help, grouped by view.
func renderHelp(_ s: AppState, into b: inout CellBuffer) {
    let lines = [
        "everywhere",
        "  Tab Shift-Tab  next / previous view     Esc  back to the browser",
        "  m  models   :  jump to an index   ?  help   q  quit   Ctrl-Z  suspend",
        "browser",
        "  arrows h j k l  move     PgUp PgDn  page     g G  first / last",
        "  Enter or click  inspect     /  true class     p  predicted class",
        "  x  misclassified only     a  show all     s  sort by confidence",
        "inspect",
        "  ← →  previous / next image     ↑ ↓  explain another class",
        "  t  top class     o / O  next / previous post-hoc method beside B-cos",
        "  p / P  a second post-hoc method, so two show side by side",
        "  n  neurons     e  export PNGs (+ composite panel)",
        "neurons",
        "  ↑ ↓  layer     /  find a layer     ← →  neuron     e  export",
        "  c  tiles: colour explanation / contribution map (zoomed to the receptive field)",
        "  PgUp PgDn  previous / next image",
        "",
        "press any key",
    ]
    let w = min(s.width - 4, (lines.map(\.count).max() ?? 40) + 4), h = min(s.height - 2, lines.count + 2)
    let x = (s.width - w) / 2, y = (s.height - h) / 2
    b.fill(x: x, y: y, width: w, height: h, with: .blank)
    b.box(x: x, y: y, width: w, height: h, title: "help", highlighted: true)
    for (i, line) in lines.prefix(h - 2).enumerated() {
        let heading = !line.hasPrefix(" ") && !line.isEmpty && line != "press any key"
        b.put(line, x: x + 2, y: y + 1 + i, fg: heading ? Theme.accent : nil, bold: heading, maxWidth: w - 4)
    }
}

func renderModels(_ s: AppState, selection: Int, into b: inout CellBuffer) {
    let w = min(s.width - 4, max(40, (s.models.map { $0.name.count + $0.path.count }.max() ?? 30) + 8))
    let h = min(s.height - 2, s.models.count + 3)
    let x = (s.width - w) / 2, y = (s.height - h) / 2
    b.fill(x: x, y: y, width: w, height: h, with: .blank)
    b.box(x: x, y: y, width: w, height: h, title: "models (Enter to switch)", highlighted: true)
    for (i, m) in s.models.prefix(h - 3).enumerated() {
        let mark = i == s.modelIndex ? "● " : "  "
        b.put((mark + m.name + "  " + m.path).padding(toLength: w - 4, withPad: " ", startingAt: 0), x: x + 2, y: y + 1 + i,
              reverse: i == selection, maxWidth: w - 4)
    }
}

func renderLayerPicker(_ s: AppState, selection: Int, query: String, into b: inout CellBuffer) {
    let matches = layerMatches(s, query)
    let w = min(s.width - 4, 50), h = s.height - 2
    let x = (s.width - w) / 2, y = 1
    b.fill(x: x, y: y, width: w, height: h, with: .blank)
    b.box(x: x, y: y, width: w, height: h, title: "layers (\(matches.count)/\(s.layers.count))", highlighted: true)
    b.put("find: " + query + "▏", x: x + 2, y: y + 1, fg: Theme.accent, maxWidth: w - 4)
    let visible = h - 3
    let top = max(0, min(selection - visible / 2, matches.count - visible))
    let labelW = Layer.labelWidth(s.layers)
    for row in 0..<min(visible, matches.count) {
        let i = matches[top + row]
        let layer = s.layers[i]
        let text = layer.label(width: labelW) + layer.name + "  " + layer.shape.dropFirst().map(String.init).joined(separator: "x")
        b.put(text.padding(toLength: w - 4, withPad: " ", startingAt: 0), x: x + 2, y: y + 2 + row,
              reverse: top + row == selection, maxWidth: w - 4)
    }
}
