import LumenModels

/// Decides whether what the checker read in a picture satisfies what the prompt stated.
/// Object tasks follow GenEval: colour and shape need one matching object; counting needs the
/// exact count; colour binding needs every stated (colour, shape) pair on one object; position
/// finds the two objects by shape and compares their left-to-right order.
public enum EvalJudge {
    public static func passes(_ item: EvalItem, _ r: CheckerReading) -> Bool {
        let e = item.expect
        switch item.task {
        case .color: return r.objects.contains { $0.color == e.color }
        case .shape: return r.objects.contains { $0.shape == e.shape }
        case .count: return r.labels["count"].flatMap(Int.init) == e.count
        case .colorBinding:
            return (e.objects ?? []).allSatisfy { pair in pair.count == 2 && r.objects.contains { $0.color == pair[0] && $0.shape == pair[1] } }
        case .position:
            guard let l = r.objects.firstIndex(where: { $0.shape == e.left }),
                  let rr = r.objects.lastIndex(where: { $0.shape == e.right }) else { return false }
            return l < rr
        case .biome: return r.labels["biome"] == e.biome
        case .timeOfDay: return r.labels["time_of_day"] == e.timeOfDay
        case .style: return r.labels["style"] == e.style
        }
    }

    /// The expectation field a task needs but the item lacks, if any.
    static func missingField(_ item: EvalItem) -> String? {
        let e = item.expect
        switch item.task {
        case .color: return e.color == nil ? "color" : nil
        case .shape: return e.shape == nil ? "shape" : nil
        case .count: return e.count == nil ? "count" : nil
        case .colorBinding: return (e.objects?.isEmpty ?? true) || e.objects!.contains { $0.count != 2 } ? "objects ([[color, shape], …])" : nil
        case .position: return e.left == nil ? "left" : e.right == nil ? "right" : nil
        case .biome: return e.biome == nil ? "biome" : nil
        case .timeOfDay: return e.timeOfDay == nil ? "time_of_day" : nil
        case .style: return e.style == nil ? "style" : nil
        }
    }
}
