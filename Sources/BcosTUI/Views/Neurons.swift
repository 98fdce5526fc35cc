import BcosExplain

/// A layer list and the layer's most active neurons for the current image, each drawn as its explanation.
func renderNeurons(_ s: AppState, gallery: Gallery, into b: inout CellBuffer) {
    let listW = min(30, max(20, s.width / 4))
    let listH = s.height - 4
    b.put("layers (\(s.layers.count))", x: 1, y: 1, fg: Theme.accent, bold: true)
    if s.layers.isEmpty {
        b.put("loading…", x: 1, y: 2, fg: Theme.muted)
    } else {
        let visible = max(1, listH - 1)
        let labelW = Layer.labelWidth(s.layers)
        let top = max(0, min(s.layerIndex - visible / 2, s.layers.count - visible))
        for row in 0..<min(visible, s.layers.count) {
            let i = top + row
            let layer = s.layers[i], name = layer.name
            // The paper's index on the left, the shape on the right; the name keeps its end (the part that differs
            // in deep networks).
            let label = layer.label(width: labelW)
            let dims = layer.shape.dropFirst().map(String.init).joined(separator: "x")
            let room = max(4, listW - 2 - dims.count - label.count)
            let shown = name.count <= room ? name : "…" + name.suffix(room - 1)
            let text = label + shown.padding(toLength: room, withPad: " ", startingAt: 0) + " " + dims
            b.put(text.padding(toLength: listW - 1, withPad: " ", startingAt: 0), x: 1, y: 2 + row,
                  fg: i == s.layerIndex ? nil : Theme.muted, reverse: i == s.layerIndex, maxWidth: listW - 1)
        }
    }
    let x0 = listW + 1, areaW = s.width - x0 - 1
    let imageScale = panelLayout(count: 1, w: s.imageWidth, h: s.imageHeight, cols: 16, rows: 9).scale
    panel(gallery.rgb(s.current), width: s.imageWidth, height: s.imageHeight, scale: imageScale,
          title: "image", x: x0, y: 1, into: &b)
    guard let r = s.neurons else {
        b.put("ranking neurons…", x: x0 + 18, y: 2, fg: Theme.muted)
        return
    }
    let layerName = s.layers.indices.contains(r.layer) ? s.layers[r.layer].name : "?"
    // Tiles show each neuron's receptive field, not the whole image: a deep neuron's explanation covers only
    // that part, which at full-image scale would be a few pixels in a black tile.
    let fieldW = r.neurons.map(\.field.width).max() ?? r.width, fieldH = r.neurons.map(\.field.height).max() ?? r.height
    let zoomed = fieldW < r.width || fieldH < r.height
    let what = s.neuronTiles == .colour ? "colour explanations" : "contribution maps"
    b.put("layer \(layerName): top \(r.neurons.count) channels by max activation · \(what)"
          + (zoomed ? ", zoomed to the receptive field (\(fieldW)x\(fieldH) px)" : ""),
          x: x0 + 18, y: 1, fg: Theme.accent, bold: true, maxWidth: areaW - 18)
    if let sel = r.neurons.indices.contains(s.neuronCursor) ? r.neurons[s.neuronCursor] : nil {
        b.put(String(format: "channel %d  activation %.4g at (%d, %d)  completeness error %.1e", sel.channel,
                     sel.activation, sel.y, sel.x, sel.completenessError), x: x0 + 18, y: 2, maxWidth: areaW - 18)
    }
    /// A neuron's tile picture: its colour explanation or contribution map, cropped to its receptive field.
    func picture(_ n: NeuronResult) -> (rgb: [UInt8], width: Int, height: Int) {
        let rgb = s.neuronTiles == .colour ? n.colour : n.contributions
        return (Pictures.crop(rgb, width: r.width, to: n.field), n.field.width, n.field.height)
    }
    // Thumbnails of every neuron, the selected one enlarged at the right.
    let bigScale = panelLayout(count: 1, w: fieldW, h: fieldH, cols: max(12, areaW / 3), rows: s.height - 8).scale
    let bigW = panelCols(fieldW, scale: bigScale) + 2
    let gridW = max(12, areaW - bigW - 1)
    let thumbScale = panelLayout(count: 1, w: fieldW, h: fieldH, cols: 14, rows: 8).scale
    let tw = max(panelCols(fieldW, scale: thumbScale), 10) + 1, th = panelRows(fieldH, scale: thumbScale) + 2
    let perRow = max(1, gridW / tw)
    let gridTop = 3 + panelRows(s.imageHeight, scale: imageScale)
    for (i, n) in r.neurons.enumerated() {
        let x = x0 + (i % perRow) * tw, y = gridTop + (i / perRow) * th
        guard y + th <= s.height - 2 else { break }
        let p = picture(n)
        let tpw = panelCols(p.width, scale: thumbScale), tph = max(1, Int((Double(p.height) * thumbScale).rounded()))
        b.drawImage(resample(p.rgb, width: p.width, height: p.height, toWidth: tpw, toHeight: tph),
                    width: tpw, height: tph, x: x, y: y)
        b.put(String(format: "%d:%.3g", n.channel, n.activation).padding(toLength: tw - 1, withPad: " ", startingAt: 0),
              x: x, y: y + th - 1, fg: i == s.neuronCursor ? nil : Theme.muted, reverse: i == s.neuronCursor, maxWidth: tw - 1)
    }
    if r.neurons.indices.contains(s.neuronCursor) {
        let n = r.neurons[s.neuronCursor], p = picture(n)
        panel(p.rgb, width: p.width, height: p.height, scale: bigScale, title: "channel \(n.channel)",
              x: s.width - bigW, y: gridTop, into: &b)
    }
}
