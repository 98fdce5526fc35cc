/// The dataset as a grid of half-block thumbnails, each with its prediction under it.
func renderBrowser(_ s: AppState, gallery: Gallery, into b: inout CellBuffer) {
    let layout = BrowserLayout(s)
    let list = s.visible
    let cellW = max(layout.thumbWidth, 10)
    if list.isEmpty {
        b.put("no images match the filter (\(s.filterDescription)); a: show all", x: 2, y: 2, fg: Theme.muted)
        return
    }
    for row in 0..<layout.rows {
        for col in 0..<layout.columns {
            let pos = (s.scrollRow + row) * layout.columns + col
            guard pos < list.count else { return }
            let i = list[pos]
            let x = col * (cellW + 1), y = 1 + row * (layout.thumbRows + 1)
            let pw = max(1, (s.imageWidth + layout.shrink - 1) / layout.shrink)
            let ph = max(1, (s.imageHeight + layout.shrink - 1) / layout.shrink)
            let rgb = resample(gallery.rgb(i), width: s.imageWidth, height: s.imageHeight, toWidth: pw, toHeight: ph)
            b.drawImage(rgb, width: pw, height: ph, x: x + (cellW - pw) / 2, y: y)
            let selected = pos == s.cursor
            var label: String
            var colour = Theme.muted
            if let p = s.predictions[i] {
                let ok = p.predicted == s.labels[i]
                colour = ok ? Theme.good : Theme.bad
                label = (ok ? "✓" : "✗") + String(format: "%3.0f%% ", p.confidence * 100) + s.classes[p.predicted]
            } else {
                label = "… " + s.classes[s.labels[i]]
            }
            b.put(label.padding(toLength: cellW, withPad: " ", startingAt: 0), x: x, y: y + layout.thumbRows,
                  fg: selected ? nil : colour, reverse: selected, maxWidth: cellW)
        }
    }
    let pages = (list.count + layout.perPage - 1) / layout.perPage
    let page = s.scrollRow * layout.columns / max(1, layout.perPage) + 1
    let info = "\(s.cursor + 1)/\(list.count) · page \(page)/\(pages) · \(s.filterDescription) · sort \(s.sort.rawValue)"
    if s.status.isEmpty { b.put(info, x: 1, y: s.height - 2, fg: Theme.muted, maxWidth: s.width - 2) }
}
