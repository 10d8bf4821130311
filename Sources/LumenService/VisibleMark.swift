import LumenImageIO
import LumenPipelines

/// The optional visible label (Code of Practice, Measure 2: an "AI-generated" disclosure people can
/// see): a dark corner badge with white text, "AI-GENERATED" where it fits, else "AI", scaled with
/// the picture. Drawn before the watermark, so the watermark covers the final pixels.
public enum VisibleMark {
    public static func apply(to image: RGBImage) -> RGBImage {
        var out = image
        let scale = max(1, image.width / 256)
        var text = "AI-GENERATED"
        if (text.count * BitmapFont.advance + 3) * scale > image.width / 2 { text = "AI" }
        let pad = scale
        let boxW = (text.count * BitmapFont.advance - 1) * scale + 2 * pad
        let boxH = BitmapFont.lineHeight * scale + 2 * pad
        guard boxW < image.width, boxH < image.height else { return image }
        let x0 = image.width - boxW, y0 = image.height - boxH
        for y in y0..<image.height {
            for x in x0..<image.width {
                let k = (y * image.width + x) * 3
                // 75% black over the picture.
                for c in 0..<3 { out.pixels[k + c] = UInt8(Int(out.pixels[k + c]) / 4) }
            }
        }
        BitmapFont.draw(text, x: x0 + pad, y: y0 + pad, scale: scale, into: &out.pixels, width: image.width, height: image.height,
                        color: (255, 255, 255))
        return out
    }
}
