/// The arena's built-in prompts, by the categories its per-category boards use. Prompts a user
/// types are categorised "custom" unless they pick a category.
public enum ArenaPrompts {
    public static let byCategory: [(category: String, prompts: [String])] = [
        ("photo", ["a photo of a red metal sphere on a wooden table by a window", "a photo of a glass cube on grass at golden hour",
                   "a photo of a yellow rubber duck floating on a lake", "a photo of three blue cups on a white shelf"]),
        ("landscape", ["snowy mountains above a still lake at sunrise", "desert dunes under a starry night sky with a moon",
                       "green hills and a forest at sunset", "a rocky coast with waves under an overcast sky"]),
        ("people", ["a portrait of an old fisherman in a yellow raincoat", "two children flying a kite on a beach",
                    "a chef cooking in a busy kitchen", "a dancer in a red dress on a dark stage"]),
        ("text", ["a shop sign that says OPEN", "a birthday cake with the word LUMEN written in icing",
                  "a street sign reading MAIN ST", "a book cover titled THE LIGHT"]),
        ("art styles", ["a watercolor painting of a lighthouse", "pixel art of a castle at night", "a pencil sketch of a cat",
                        "concept art of a floating city above the clouds"]),
        ("counting and positions", ["a red cube left of a blue sphere", "three green cones in a row", "a small torus in front of a large cylinder",
                                    "two yellow spheres behind a purple cube"]),
    ]

    public static var categories: [String] { byCategory.map(\.category) }

    /// A prompt from `category` (or any), drawn with `random`.
    public static func draw(category: String?, using random: inout some RandomNumberGenerator) -> (String, String) {
        let groups = category.map { c in byCategory.filter { $0.category == c } } ?? byCategory
        let group = groups.randomElement(using: &random) ?? byCategory[0]
        return (group.prompts.randomElement(using: &random) ?? group.prompts[0], group.category)
    }
}
