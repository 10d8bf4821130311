import Foundation
import LumenImageIO

/// A grid of pictures with their first caption underneath, drawn with a built-in 5×7 bitmap font
/// (no font library needed for a dataset preview).
public enum ContactSheet {
    /// Draws `text` at (x, y) in `color` onto an RGB canvas.
    static func draw(_ text: String, x: Int, y: Int, into canvas: inout [UInt8], width: Int, height: Int, color: UInt8 = 20) {
        BitmapFont.draw(text, x: x, y: y, scale: 1, into: &canvas, width: width, height: height, color: (color, color, color))
    }

    static func wrap(_ text: String, columns: Int, lines: Int) -> [String] {
        var out: [String] = [], line = ""
        for word in text.split(separator: " ") {
            if line.count + word.count + 1 > columns && !line.isEmpty {
                out.append(line); line = ""
                if out.count == lines { return out }
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty && out.count < lines { out.append(line) }
        return out
    }

    /// Lays out pictures (RGB, any size; scaled to `cell` by nearest sampling) in a grid.
    public static func make(_ items: [(width: Int, height: Int, pixels: [UInt8], caption: String)], cell: Int = 192, columns: Int = 8) -> (width: Int, height: Int, pixels: [UInt8]) {
        let textLines = 5
        let captionHeight = textLines * 9 + 6
        let cols = min(columns, max(items.count, 1))
        let rows = (items.count + cols - 1) / cols
        let pad = 6
        let width = cols * (cell + pad) + pad, height = rows * (cell + captionHeight + pad) + pad
        var canvas = [UInt8](repeating: 250, count: width * height * 3)
        for (i, item) in items.enumerated() {
            let ox = pad + (i % cols) * (cell + pad), oy = pad + (i / cols) * (cell + captionHeight + pad)
            for y in 0..<cell {
                for x in 0..<cell {
                    let sx = x * item.width / cell, sy = y * item.height / cell
                    let s = (sy * item.width + sx) * 3, d = ((oy + y) * width + ox + x) * 3
                    canvas[d] = item.pixels[s]; canvas[d + 1] = item.pixels[s + 1]; canvas[d + 2] = item.pixels[s + 2]
                }
            }
            for (n, line) in wrap(item.caption, columns: cell / 6, lines: textLines).enumerated() {
                draw(line, x: ox, y: oy + cell + 4 + n * 9, into: &canvas, width: width, height: height)
            }
        }
        return (width, height, canvas)
    }
}
