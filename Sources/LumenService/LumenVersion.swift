/// Lumen's version, as shown by `lumen --version`, in `softwareAgent`/`CreatorTool` marks and by the server.
public enum LumenVersion {
    public static let string = "0.2.0"
    /// "Lumen 0.2.0": how pictures name their generator.
    public static var generator: String { "Lumen \(string)" }
}
