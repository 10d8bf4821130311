import Foundation

/// A problem loading tokenizer files.
public enum TokenizerError: Error, CustomStringConvertible {
    case unreadable(path: String, reason: String)
    case missingToken(String)

    public var description: String {
        switch self {
        case let .unreadable(p, r): "cannot read tokenizer file \(p): \(r)"
        case let .missingToken(t): "tokenizer vocabulary has no entry for the special token '\(t)'"
        }
    }
}

/// CLIP's byte-level BPE tokenizer, giving the same ids as transformers' `CLIPTokenizer`
/// (transformers 5, `models/clip/tokenization_clip.py`, backed by HF tokenizers):
/// - normalise: NFC, every whitespace run → one space, lower-case;
/// - split into words with CLIP's pattern `'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
///   (whitespace is dropped, digits stand alone);
/// - map each UTF-8 byte to GPT-2's printable byte alphabet, append `</w>` to the last symbol
///   and apply the merges in rank order;
/// - wrap in `<|startoftext|>` … `<|endoftext|>`, truncate to `model_max_length` and pad with
///   the pad token (`<|endoftext|>` for SD1's tokenizer, `!` for SD2's).
public struct CLIPTokenizer: Sendable {
    public let vocabulary: [String: Int]
    let ranks: [Pair: Int]
    /// The merges in rank order.
    public let mergeList: [(String, String)]
    public let bosTokenID: Int
    public let eosTokenID: Int
    public let padTokenID: Int
    public let unkTokenID: Int
    public let modelMaxLength: Int
    let specialTokens: [String: Int]

    struct Pair: Hashable, Sendable { let a: String, b: String }

    static let byteEncoder: [Character] = {
        // GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 onward.
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var codes = printable
        var n = 0
        for b in 0..<256 where !printable.contains(b) {
            printable.append(b)
            codes.append(256 + n)
            n += 1
        }
        var table = [Character](repeating: " ", count: 256)
        for (b, c) in zip(printable, codes) { table[b] = Character(Unicode.Scalar(c)!) }
        return table
    }()

    static let wordPattern = try! NSRegularExpression(  // constant pattern, checked by tests
        pattern: #"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"#)
    static let whitespace = try! NSRegularExpression(pattern: #"\s+"#)  // constant pattern

    public init(vocabulary: [String: Int], merges: [(String, String)], padToken: String = "<|endoftext|>",
                unkToken: String = "<|endoftext|>", modelMaxLength: Int = 77) throws {
        self.vocabulary = vocabulary
        var ranks: [Pair: Int] = [:]
        for (i, m) in merges.enumerated() where ranks[Pair(a: m.0, b: m.1)] == nil { ranks[Pair(a: m.0, b: m.1)] = i }
        self.ranks = ranks
        self.mergeList = merges
        func id(_ t: String) throws -> Int {
            guard let i = vocabulary[t] else { throw TokenizerError.missingToken(t) }
            return i
        }
        bosTokenID = try id("<|startoftext|>")
        eosTokenID = try id("<|endoftext|>")
        padTokenID = try id(padToken)
        unkTokenID = try id(unkToken)
        self.modelMaxLength = modelMaxLength
        var special = ["<|startoftext|>": bosTokenID, "<|endoftext|>": eosTokenID]
        special[padToken] = padTokenID
        special[unkToken] = unkTokenID
        specialTokens = special
    }

    /// Loads `vocab.json`, `merges.txt` and, when present, `tokenizer_config.json` /
    /// `special_tokens_map.json` (pad token, `model_max_length`) from a tokenizer folder.
    public init(directory: String) throws {
        let vocabPath = directory + "/vocab.json", mergesPath = directory + "/merges.txt"
        let vocab: [String: Int]
        var merges: [(String, String)] = []
        if FileManager.default.fileExists(atPath: vocabPath) {
            guard let vocabData = FileManager.default.contents(atPath: vocabPath),
                  let v = (try? JSONSerialization.jsonObject(with: vocabData)) as? [String: Int] else {
                throw TokenizerError.unreadable(path: vocabPath, reason: "expected a JSON object of token → id")
            }
            vocab = v
            guard let mergesText = try? String(contentsOfFile: mergesPath, encoding: .utf8) else {
                throw TokenizerError.unreadable(path: mergesPath, reason: "file not found or not UTF-8")
            }
            for (n, line) in mergesText.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
                if n == 0 && line.hasPrefix("#version") { continue }
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                guard parts.count == 2 else {
                    throw TokenizerError.unreadable(path: mergesPath, reason: "line \(n + 1) is not a pair of symbols")
                }
                merges.append((String(parts[0]), String(parts[1])))
            }
        } else {
            // HF tokenizers' single-file form (what transformers ≥ 5 saves): model.vocab / model.merges.
            let path = directory + "/tokenizer.json"
            guard let data = FileManager.default.contents(atPath: path) else {
                throw TokenizerError.unreadable(path: directory, reason: "no vocab.json + merges.txt and no tokenizer.json")
            }
            guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                  let model = root["model"] as? [String: Any], (model["type"] as? String) == "BPE",
                  let v = model["vocab"] as? [String: Int], let m = model["merges"] as? [Any] else {
                throw TokenizerError.unreadable(path: path, reason: "expected a BPE model with vocab and merges")
            }
            var full = v
            for added in (root["added_tokens"] as? [[String: Any]]) ?? [] {
                if let content = added["content"] as? String, let id = added["id"] as? Int { full[content] = id }
            }
            vocab = full
            for item in m {
                if let pair = item as? [String], pair.count == 2 {
                    merges.append((pair[0], pair[1]))
                } else if let line = item as? String {
                    let parts = line.split(separator: " ")
                    guard parts.count == 2 else { throw TokenizerError.unreadable(path: path, reason: "bad merge '\(line)'") }
                    merges.append((String(parts[0]), String(parts[1])))
                } else {
                    throw TokenizerError.unreadable(path: path, reason: "merges must be strings or pairs")
                }
            }
        }
        var config: [String: Any] = [:]
        for name in ["special_tokens_map.json", "tokenizer_config.json"] {
            if let data = FileManager.default.contents(atPath: directory + "/" + name),
               let dict = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
                config.merge(dict) { _, new in new }
            }
        }
        func token(_ key: String) -> String? {
            if let s = config[key] as? String { return s }
            if let d = config[key] as? [String: Any] { return d["content"] as? String }
            return nil
        }
        var maxLength = 77
        if let m = config["model_max_length"] as? Int, m > 0, m < 1_000_000 { maxLength = m }
        try self.init(vocabulary: vocab, merges: merges, padToken: token("pad_token") ?? "<|endoftext|>",
                      unkToken: token("unk_token") ?? "<|endoftext|>", modelMaxLength: maxLength)
    }

    /// Normalisation of the HF tokenizers pipeline: NFC, whitespace runs → " ", lower-case.
    static func normalize(_ text: String) -> String {
        let nfc = text.precomposedStringWithCanonicalMapping
        let range = NSRange(nfc.startIndex..., in: nfc)
        return whitespace.stringByReplacingMatches(in: nfc, range: range, withTemplate: " ").lowercased()
    }

    /// Token ids of `text` without special tokens or padding.
    ///
    /// Special tokens (`<|startoftext|>`, `<|endoftext|>`, and the pad token, which is `!` for SD2)
    /// are matched in the raw text first, as HF tokenizers' added tokens are; the rest is
    /// normalised and split into words.
    public func encodeWords(_ text: String) -> [Int] {
        var ids: [Int] = []
        var rest = Substring(text)
        let specials = specialTokens.keys.sorted { $0.count > $1.count }
        while !rest.isEmpty {
            var earliest: (Range<Substring.Index>, Int)?
            for token in specials {
                if let r = rest.range(of: token), earliest == nil || r.lowerBound < earliest!.0.lowerBound {
                    earliest = (r, specialTokens[token]!)
                }
            }
            guard let (range, id) = earliest else {
                ids += encodeSegment(String(rest))
                break
            }
            ids += encodeSegment(String(rest[..<range.lowerBound]))
            ids.append(id)
            rest = rest[range.upperBound...]
        }
        return ids
    }

    func encodeSegment(_ text: String) -> [Int] {
        let normalized = Self.normalize(text)
        let ns = normalized as NSString
        var ids: [Int] = []
        for match in Self.wordPattern.matches(in: normalized, range: NSRange(location: 0, length: ns.length)) {
            let word = ns.substring(with: match.range)
            ids.append(contentsOf: bpe(word))
        }
        return ids
    }

    /// BPE over one pre-tokenised word (greedy lowest-rank merge, all occurrences per round).
    func bpe(_ word: String) -> [Int] {
        var symbols = Array(word.utf8).map { String(Self.byteEncoder[Int($0)]) }
        guard !symbols.isEmpty else { return [] }
        symbols[symbols.count - 1] += "</w>"
        while symbols.count > 1 {
            var best: (rank: Int, pair: Pair)?
            for i in 0..<(symbols.count - 1) {
                let p = Pair(a: symbols[i], b: symbols[i + 1])
                if let r = ranks[p], r < (best?.rank ?? Int.max) { best = (r, p) }
            }
            guard let (_, pair) = best else { break }
            var merged: [String] = []
            var i = 0
            while i < symbols.count {
                if i + 1 < symbols.count && symbols[i] == pair.a && symbols[i + 1] == pair.b {
                    merged.append(pair.a + pair.b)
                    i += 2
                } else {
                    merged.append(symbols[i])
                    i += 1
                }
            }
            symbols = merged
        }
        return symbols.map { vocabulary[$0] ?? unkTokenID }
    }

    /// `tokenizer(text, padding="max_length", max_length=model_max_length, truncation=True).input_ids`.
    public func encode(_ text: String, maxLength: Int? = nil) -> [Int] {
        let length = maxLength ?? modelMaxLength
        var ids = [bosTokenID] + encodeWords(text).prefix(Swift.max(0, length - 2)) + [eosTokenID]
        if ids.count > length { ids = Array(ids.prefix(length)) }
        while ids.count < length { ids.append(padTokenID) }
        return ids
    }

    /// The number of prompt tokens that `encode` had to drop (0 when the prompt fits).
    public func truncatedCount(_ text: String, maxLength: Int? = nil) -> Int {
        Swift.max(0, encodeWords(text).count - ((maxLength ?? modelMaxLength) - 2))
    }
}
