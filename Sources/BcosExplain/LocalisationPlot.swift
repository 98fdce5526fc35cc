import BcosEngine

/// An 8-bit RGB picture, `[height, width, 3]` row-major, ready for a PNG encoder.
public typealias RGBPicture = (width: Int, height: Int, rgb: [UInt8])

extension Localisation {
    /// A box plot of each method's scores, drawn in pixels: y axis 0...1 with ticks every 0.25, one box per method
    /// (quartiles, median in orange) with Tukey whiskers (the most extreme scores within 1.5 IQR of the box, as
    /// matplotlib draws them), scores beyond the whiskers as dots, and a dashed red line labelled `chance` at `1 / n²`.
    ///
    /// - Parameters:
    ///   - methods: the methods in display order, each with at least one score.
    ///   - title: one line above the plot (drawn in capitals).
    ///   - chance: where to draw the chance line, or nil for none.
    public static func boxPlot(_ methods: [MethodScores], title: String, chance: Double? = nil) -> RGBPicture {
        let scale = 2, left = 60, top = 34, plot = 240, bottom = 40
        let longest = methods.map { Canvas.textWidth($0.name, scale: scale) }.max() ?? 0
        let slot = max(80, longest + 16)
        let width = max(left + slot * methods.count + 20, Canvas.textWidth(title, scale: scale) + 20)
        var canvas = Canvas(width: width, height: top + plot + bottom, background: 255)
        func y(_ v: Double) -> Int { top + Int(((1 - min(1, max(0, v))) * Double(plot)).rounded()) }
        let axisEnd = left + slot * methods.count + 10
        canvas.text(title, x: 10, y: 10, scale: scale, colour: Canvas.black)
        for tick in [0, 0.25, 0.5, 0.75, 1] {
            canvas.hline(left, axisEnd, y: y(tick), colour: tick == 0 ? Canvas.black : [220, 220, 220])
            let label = tick == 0 ? "0" : tick == 1 ? "1" : String(tick)
            canvas.text(label, x: left - 8 - Canvas.textWidth(label, scale: scale), y: y(tick) - 5,
                        scale: scale, colour: Canvas.black)
            canvas.hline(left - 4, left, y: y(tick), colour: Canvas.black)
        }
        canvas.vline(left, top, y(0), colour: Canvas.black)
        if let chance {
            for x in stride(from: left + 1, to: axisEnd, by: 10) {
                canvas.hline(x, min(x + 5, axisEnd), y: y(chance), colour: [210, 50, 50])
            }
            canvas.text("chance", x: axisEnd - Canvas.textWidth("chance", scale: 1), y: y(chance) - 7, scale: 1,
                        colour: [210, 50, 50])
        }
        for (i, method) in methods.enumerated() where !method.scores.isEmpty {
            let s = method.summary
            let cx = left + slot * i + slot / 2, half = slot * 3 / 10
            let reach = 1.5 * (s.q3 - s.q1)
            let inside = method.scores.filter { $0 >= s.q1 - reach && $0 <= s.q3 + reach }
            let low = inside.min() ?? s.q1, high = inside.max() ?? s.q3
            canvas.vline(cx, y(high), y(s.q3), colour: Canvas.black)
            canvas.vline(cx, y(s.q1), y(low), colour: Canvas.black)
            canvas.hline(cx - half / 2, cx + half / 2, y: y(high), colour: Canvas.black)
            canvas.hline(cx - half / 2, cx + half / 2, y: y(low), colour: Canvas.black)
            canvas.fill(x: cx - half, y: y(s.q3), w: 2 * half + 1, h: y(s.q1) - y(s.q3) + 1, colour: [198, 219, 239])
            canvas.outline(x: cx - half, y: y(s.q3), w: 2 * half + 1, h: y(s.q1) - y(s.q3) + 1, colour: [33, 113, 181])
            canvas.fill(x: cx - half, y: y(s.median) - 1, w: 2 * half + 1, h: 2, colour: [240, 120, 20])
            for v in Set(method.scores.filter { $0 < low || $0 > high }.map(y)) {
                canvas.fill(x: cx - 1, y: v - 1, w: 3, h: 3, colour: [90, 90, 90])
            }
            canvas.text(method.name, x: cx - Canvas.textWidth(method.name, scale: scale) / 2, y: top + plot + 12,
                        scale: scale, colour: Canvas.black)
        }
        return (canvas.width, canvas.height, canvas.rgb)
    }

    /// The example grid beside every method's map for one cell's class: the grid image with the explained cell
    /// outlined in green, then each map in blue-white-red (`Visualize.signedColours`, each map its own symmetric
    /// range), all nearest-upscaled to about 192 px, captioned with the class and method names.
    ///
    /// - Parameter className: the name of `example.classIndex`, for the caption.
    public static func examplePicture(_ example: Example, className: String) -> RGBPicture {
        let c = example.image.shape[0], gh = example.image.shape[1], gw = example.image.shape[2]
        let factor = max(1, 192 / max(gh, gw))
        let pw = gw * factor, ph = gh * factor
        let margin = 8, caption = 18, scale = 2
        let panels = 1 + example.maps.count
        var canvas = Canvas(width: margin + panels * (pw + margin), height: caption + ph + 2 * margin, background: 255)
        var panel = [(caption: className, rgb: Pictures.imageRGB(example.image, channels: c))]
        for map in example.maps { panel.append((map.name, Visualize.signedColours(map.values).rgb)) }
        for (i, p) in panel.enumerated() {
            let x = margin + i * (pw + margin)
            canvas.paste(p.rgb, width: gw, height: gh, x: x, y: margin + caption, factor: factor)
            let room = pw / (Canvas.advance * scale)
            canvas.text(String(p.caption.prefix(room)), x: x, y: margin, scale: scale, colour: Canvas.black)
        }
        let r = cell(example.cell, n: example.n, height: gh, width: gw)
        for t in 0..<2 {
            canvas.outline(x: margin + r.x * factor + t, y: margin + caption + r.y * factor + t,
                           w: r.w * factor - 2 * t, h: r.h * factor - 2 * t, colour: [0, 210, 0])
        }
        return (canvas.width, canvas.height, canvas.rgb)
    }
}
