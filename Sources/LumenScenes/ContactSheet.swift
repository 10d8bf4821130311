import Foundation

/// A grid of pictures with their first caption underneath, drawn with a built-in 5×7 bitmap font
/// (no font library needed for a dataset preview).
public enum ContactSheet {
    static let glyphs: [Character: [String]] = [
        "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"], "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
        "C": ["01110", "10001", "10000", "10000", "10000", "10001", "01110"], "D": ["11110", "10001", "10001", "10001", "10001", "10001", "11110"],
        "E": ["11111", "10000", "10000", "11110", "10000", "10000", "11111"], "F": ["11111", "10000", "10000", "11110", "10000", "10000", "10000"],
        "G": ["01110", "10001", "10000", "10111", "10001", "10001", "01111"], "H": ["10001", "10001", "10001", "11111", "10001", "10001", "10001"],
        "I": ["01110", "00100", "00100", "00100", "00100", "00100", "01110"], "J": ["00111", "00010", "00010", "00010", "00010", "10010", "01100"],
        "K": ["10001", "10010", "10100", "11000", "10100", "10010", "10001"], "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
        "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"], "N": ["10001", "10001", "11001", "10101", "10011", "10001", "10001"],
        "O": ["01110", "10001", "10001", "10001", "10001", "10001", "01110"], "P": ["11110", "10001", "10001", "11110", "10000", "10000", "10000"],
        "Q": ["01110", "10001", "10001", "10001", "10101", "10010", "01101"], "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
        "S": ["01111", "10000", "10000", "01110", "00001", "00001", "11110"], "T": ["11111", "00100", "00100", "00100", "00100", "00100", "00100"],
        "U": ["10001", "10001", "10001", "10001", "10001", "10001", "01110"], "V": ["10001", "10001", "10001", "10001", "10001", "01010", "00100"],
        "W": ["10001", "10001", "10001", "10101", "10101", "10101", "01010"], "X": ["10001", "10001", "01010", "00100", "01010", "10001", "10001"],
        "Y": ["10001", "10001", "10001", "01010", "00100", "00100", "00100"], "Z": ["11111", "00001", "00010", "00100", "01000", "10000", "11111"],
        "0": ["01110", "10001", "10011", "10101", "11001", "10001", "01110"], "1": ["00100", "01100", "00100", "00100", "00100", "00100", "01110"],
        "2": ["01110", "10001", "00001", "00010", "00100", "01000", "11111"], "3": ["11111", "00010", "00100", "00010", "00001", "10001", "01110"],
        "4": ["00010", "00110", "01010", "10010", "11111", "00010", "00010"], "5": ["11111", "10000", "11110", "00001", "00001", "10001", "01110"],
        "6": ["00110", "01000", "10000", "11110", "10001", "10001", "01110"], "7": ["11111", "00001", "00010", "00100", "01000", "01000", "01000"],
        "8": ["01110", "10001", "10001", "01110", "10001", "10001", "01110"], "9": ["01110", "10001", "10001", "01111", "00001", "00010", "01100"],
        ",": ["00000", "00000", "00000", "00000", "00110", "00100", "01000"], ".": ["00000", "00000", "00000", "00000", "00000", "01100", "01100"],
        "-": ["00000", "00000", "00000", "11111", "00000", "00000", "00000"], ":": ["00000", "01100", "01100", "00000", "01100", "01100", "00000"],
        "'": ["00100", "00100", "01000", "00000", "00000", "00000", "00000"],
    ]

    /// Draws `text` at (x, y) in `color` onto an RGB canvas.
    static func draw(_ text: String, x: Int, y: Int, into canvas: inout [UInt8], width: Int, height: Int, color: UInt8 = 20) {
        var cx = x
        for ch in text.uppercased() {
            if let g = glyphs[ch] {
                for (row, bits) in g.enumerated() {
                    for (col, bit) in bits.enumerated() where bit == "1" {
                        let px = cx + col, py = y + row
                        guard px >= 0, px < width, py >= 0, py < height else { continue }
                        let k = (py * width + px) * 3
                        canvas[k] = color; canvas[k + 1] = color; canvas[k + 2] = color
                    }
                }
            }
            cx += 6
        }
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
