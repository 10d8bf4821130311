import Foundation
import LumenArena

/// Automatic battles (issue 6, item 6): every model answers the same evaluation prompts with the
/// same seeds, the scene checker judges each picture pass or fail, and each pair of models on
/// each prompt becomes one battle — the model that passed where the other failed wins; both
/// passing is a tie, neither is "tie (bothbad)". The log uses FastChat's clean-battle fields with
/// `judge` = `checkerJudge`, so it ranks with the same Bradley–Terry code as human votes but is
/// always kept on its own board.
public enum AutomaticBattles {
    public static let checkerJudge = "lumen-scene-checker"

    /// `verdicts[model]` holds one pass/fail per item, in the order of `items`.
    public static func battles(items: [EvalItem], verdicts: [(model: String, passed: [Bool])], tstamp: Double) -> [Battle] {
        var out: [Battle] = []
        for (k, item) in items.enumerated() {
            for i in verdicts.indices {
                for j in verdicts.indices where j > i {
                    // Alternate sides by prompt so neither model always sits on the left.
                    let (a, b) = k % 2 == 0 ? (verdicts[i], verdicts[j]) : (verdicts[j], verdicts[i])
                    let pa = a.passed[k], pb = b.passed[k]
                    let winner: BattleWinner = pa && !pb ? .modelA : pb && !pa ? .modelB : pa ? .tie : .bothBad
                    out.append(Battle(modelA: a.model, modelB: b.model, winner: winner, judge: checkerJudge, anony: true,
                                      tstamp: tstamp, prompt: item.prompt, category: item.task.rawValue))
                }
            }
        }
        return out
    }
}
