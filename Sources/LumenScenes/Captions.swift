import Foundation

/// Caption grammar: several true descriptions per scene with synonyms and varied word order.
/// At least one variant puts every attribute before its noun ("a small red metal cube"), since
/// a causal text encoder reads left to right.
enum CaptionGrammar {
    static let numbers = ["zero", "one", "two", "three", "four", "five"]

    static func objectPhrase(_ o: SceneObject, _ rng: inout SceneRandom, full: Bool) -> String {
        let noun = rng.pick(o.shape.nouns)
        let glow = o.emissive ? "glowing " : ""
        if full {
            return "a \(o.size.adjectives[0]) \(glow)\(o.color.rawValue) \(o.material.adjectives[0]) \(noun)"
        }
        switch rng.int(3) {
        case 0: return "a \(rng.pick(o.size.adjectives)) \(glow)\(o.color.rawValue) \(rng.pick(o.material.adjectives)) \(noun)"
        case 1: return "a \(glow)\(o.color.rawValue) \(noun) made of \(o.material == .rubber ? "rubber" : o.material.rawValue)"
        default: return "a \(o.color.rawValue) \(o.size.rawValue) \(noun)"
        }
    }

    static func list(_ items: [String]) -> String {
        switch items.count {
        case 0: return ""
        case 1: return items[0]
        default: return items.dropLast().joined(separator: ", ") + " and " + items.last!
        }
    }

    static func captions(_ scene: Scene, _ rng: inout SceneRandom) -> [String] {
        let objects = scene.objects
        let style = rng.pick(scene.style.phrases)
        let place = rng.pick(scene.biome.phrases)
        let time = rng.pick(scene.timeOfDay.phrases)
        var out: [String] = []
        // 1. Attributes before nouns, canonical order.
        out.append("\(scene.style.phrases[0]) \(list(objects.map { objectPhrase($0, &rng, full: true) })) \(scene.biome.phrases[0]) \(scene.timeOfDay.phrases[0])")
        // 2. Count first, varied synonyms.
        let count = objects.count == 1 ? "one object" : "\(numbers[objects.count]) objects"
        out.append("\(style) \(count) \(place) \(time): \(list(objects.map { objectPhrase($0, &rng, full: false) }))")
        // 3. Time and place first.
        let lead = time.prefix(1).uppercased() + time.dropFirst()
        out.append("\(lead), \(list(objects.map { objectPhrase($0, &rng, full: false) })) \(place), \(scene.style.rawValue)")
        // 4. A relation, when there is one.
        if let rel = scene.relations.first(where: { $0.relation == "left of" || $0.relation == "right of" }) ?? scene.relations.first,
           let a = objects.first(where: { $0.id == rel.subject }), let b = objects.first(where: { $0.id == rel.object }) {
            let relation = rel.relation == "left of" ? "to the left of" : rel.relation == "right of" ? "to the right of" : rel.relation
            out.append("\(style) \(objectPhrase(a, &rng, full: true)) \(relation) \(objectPhrase(b, &rng, full: true)) \(place) \(time)")
        }
        return out
    }
}
