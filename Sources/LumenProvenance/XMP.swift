import Foundation

/// IPTC Digital Source Type in XMP: the machine-readable "made by AI" label that exiftool and
/// C2PA tools read (`Iptc4xmpExt:DigitalSourceType`, IPTC Photo Metadata Standard 2023.1).
public enum XMP {
    public static let trainedAlgorithmicMedia = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    /// The PNG `iTXt` keyword for XMP (XMP Specification Part 3, §1.1.5).
    public static let pngKeyword = "XML:com.adobe.xmp"

    /// An XMP packet naming the digital source type, the instance id and the creator tool.
    public static func packet(instanceID: String, creatorTool: String, digitalSourceType: String = trainedAlgorithmicMedia) -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "\"", with: "&quot;")
                .replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
        }
        return """
        <?xpacket begin="\u{FEFF}" id="W5M0MpCehiHzreSzNTczkc9d"?>
        <x:xmpmeta xmlns:x="adobe:ns:meta/">
         <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
          <rdf:Description rdf:about=""
            xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
            xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
            xmlns:xmp="http://ns.adobe.com/xap/1.0/"
            Iptc4xmpExt:DigitalSourceType="\(esc(digitalSourceType))"
            xmpMM:InstanceID="\(esc(instanceID))"
            xmp:CreatorTool="\(esc(creatorTool))"/>
         </rdf:RDF>
        </x:xmpmeta>
        <?xpacket end="r"?>
        """
    }

    /// The value of an attribute-form property in a packet (`prefix:Name="value"`), if present.
    public static func property(_ name: String, in packet: String) -> String? {
        guard let start = packet.range(of: name + "=\"") else { return nil }
        let rest = packet[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        return String(rest[..<end]).replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&lt;", with: "<")
            .replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
    }
}
