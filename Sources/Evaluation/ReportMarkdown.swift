import Foundation

extension Report {
    /// report.md, in the layout of the MagFace baseline results: dataset, sections 1-3, the
    /// summary table (plus the MegaFace sweep and error-versus-reject tables).
    public func markdown() -> String {
        let v = verification, id = identification
        var md = """
            # MagFace Baseline Results

            **Date**: \(date ?? "not recorded")  
            **Dataset**: `\(source)` (\(HTML.count(dataset.rows)) images)  
            **Model**: \(model.map(Self.describe) ?? "not recorded (the input does not say which model made the features)")  
            **Embeddings**: \(HTML.count(dataset.rows)) rows x \(dataset.dimension)  
            **Negatives**: \(distractorNegatives ? "probe pairs of different identities + every probe x distractor pair (streamed)" : "probe pairs of different identities")

            ---

            ## Dataset Statistics

            | Subset | Images | Identities |
            |--------|--------|------------|
            | Probes | \(HTML.count(dataset.probes)) | \(dataset.identities) |
            | Distractors | \(HTML.count(dataset.distractors)) | - |
            | **Total** | **\(HTML.count(dataset.rows))** | - |

            ---

            ## 1. Embedding-Based Verification Metrics

            Using cosine similarity between \(dataset.dimension)-dim embeddings; \(HTML.count(v.positivePairs)) positive and \(HTML.count(v.negativePairs)) negative pairs.

            ### ROC & Accuracy

            | Metric | Value |
            |--------|-------|
            | **ROC-AUC** | \(HTML.number(v.auc, 4)) |
            | **Best Accuracy** | \(HTML.percent(v.bestAccuracy)) |
            | **Best Threshold** | \(v.bestThreshold.map { HTML.number(Double($0), 4) } ?? "none") |

            ### TAR @ FAR (True Accept Rate @ False Accept Rate)

            | FAR | TAR (strict, FAR <= target) | Threshold | TAR (insightface, nearest ROC point\(v.nearestIsExact ? "" : ", positive thresholds")) | FAR of that point |
            |-----|-----|-----|-----|-----|

            """
        for p in v.tarAtFAR {
            md += "| \(String(format: "%.0e", p.far)) | \(HTML.percent(p.strictTAR)) | \(p.strictThreshold.map { HTML.number(Double($0), 4) } ?? "-") | \(HTML.percent(p.nearestTAR)) | \(String(format: "%.2e", p.nearestFAR)) |\n"
        }
        md += """

            ### Score Distribution

            | Metric | Positive Pairs | Negative Pairs |
            |--------|---------------|----------------|
            | Mean | \(HTML.number(v.positiveStats.mean, 4)) | \(HTML.number(v.negativeStats.mean, 4)) |
            | Std | \(HTML.number(v.positiveStats.std, 4)) | \(HTML.number(v.negativeStats.std, 4)) |

            ### Identification

            | Metric | Value |
            |--------|-------|
            | **Rank-1 Accuracy** | \(HTML.percent(id.rank1)) |
            | Correct / Total | \(HTML.count(id.rank1Correct)) / \(HTML.count(id.probes)) |
            | CMC rank 1 / 5 / 10 | \(HTML.percent(id.cmc[0])) / \(HTML.percent(id.cmc[4])) / \(HTML.percent(id.cmc[9])) |

            ### MegaFace Protocol (rank-1 with distractors)

            | Distractors | Queries | Correct | Rank-1 |
            |-------------|---------|---------|--------|

            """
        for m in id.megaface { md += "| \(HTML.count(m.distractors)) | \(HTML.count(m.queries)) | \(HTML.count(m.correct)) | \(HTML.percent(m.rate)) |\n" }
        md += """

            ### MagFace Quality: Error versus Reject (lowest norm first)

            | Rejected | Probes kept | Rank-1 | ROC-AUC | Best Accuracy | FNMR @ FMR 1e-3 |
            |----------|-------------|--------|---------|---------------|-----------------|

            """
        for r in rejectCurve { md += "| \(HTML.percent(r.rejected, 0)) | \(HTML.count(r.keptProbes)) | \(HTML.percent(r.rank1)) | \(HTML.number(r.auc, 4)) | \(HTML.percent(r.bestAccuracy)) | \(HTML.percent(r.fnmrAtFMR1e3)) |\n" }
        md += "\n---\n\n## 2. Pair Verification\n\n"
        if let p = pairs {
            md += """
                Threshold = \(HTML.number(Double(p.threshold), 2)), tested on \(HTML.count(p.scored)) pairs (\(pairsSource ?? "pairs file"); \(p.missing.count) skipped, path not in store).

                The \(HTML.count(p.errors.count)) misclassified pairs, side by side: [pair-errors.html](pair-errors.html).

                ### Confusion Matrix

                | | Predicted Same | Predicted Diff |
                |---|----------------|----------------|
                | **Actual Same** | \(HTML.count(p.truePositives)) (TP) | \(HTML.count(p.falseNegatives)) (FN) |
                | **Actual Diff** | \(HTML.count(p.falsePositives)) (FP) | \(HTML.count(p.trueNegatives)) (TN) |

                ### Metrics

                | Metric | Value |
                |--------|-------|
                | **Accuracy** | \(HTML.percent(p.accuracy, 1)) |
                | **Precision** | \(HTML.percent(p.precision, 1)) |
                | **Recall** | \(HTML.percent(p.recall, 1)) |
                | **F1** | \(HTML.percent(p.f1, 1)) |
                | False Positives | \(HTML.count(p.falsePositives)) |
                | False Negatives | \(HTML.count(p.falseNegatives)) |
                | 10-fold accuracy (LFW-style) | \(p.tenFold.map { "\(HTML.percent($0.mean)) ± \(HTML.percent($0.std))" } ?? "-") |

                """
        } else {
            md += "Not run: no pairs file, and the table has too few probes to draw the default pairs.\n"
        }
        md += "\n---\n\n## 3. Classification Head Pipeline\n\n"
        if let h = head {
            let total = Double(dataset.rows)
            let last = h.lastEpoch
            func bin(_ counts: [String: Int], _ k: String) -> String { "\(HTML.count(counts[k] ?? 0)) | \(HTML.percent(Double(counts[k] ?? 0) / total))" }
            func row(_ label: String, _ k: String) -> String {
                "| \(label) | \(bin(h.confidenceCounts, k)) |" + (last.map { " \(bin($0.confidenceCounts, k)) |" } ?? "")
            }
            let rule = h.checkpointRule ?? "best validation top-1, first on ties"
            let lossNote = h.validationLoss.map { " (validation loss \(HTML.number($0[h.bestEpoch - 1], 4)); last epoch \(HTML.number($0[h.epochs - 1], 4)))" } ?? ""
            md += """
                Architecture: `Linear(\(h.inputDimension)→\(h.hidden)) → ReLU → Dropout(0.3) → Linear(\(h.hidden)→\(h.classes))`; \(h.epochs) epochs, seed \(h.seed).

                Chosen epoch: **\(h.bestEpoch)** of \(h.epochs), by \(rule)\(lossNote).

                ### Training

                | Split | Samples |
                |-------|---------|
                | Train | \(HTML.count(h.train.samples)) |
                | Validation | \(HTML.count(h.validation.samples)) |
                | Test | \(HTML.count(h.test.samples)) |

                ### Results

                | Metric | Value |\(last.map { _ in " Last epoch (\(h.epochs)) |" } ?? "")
                |--------|-------|\(last.map { _ in "------|" } ?? "")
                | **Train Accuracy** | \(HTML.percent(h.train.top1)) |\(last.map { _ in " - |" } ?? "")
                | **Validation Accuracy** | \(HTML.percent(h.validation.top1)) |\(last.map { " \(HTML.percent($0.validation.top1)) |" } ?? "")
                | **Test Accuracy (Top-1)** | \(HTML.percent(h.test.top1)) |\(last.map { " \(HTML.percent($0.test.top1)) |" } ?? "")
                | **Test Accuracy (Top-5)** | \(HTML.percent(h.test.top5)) |\(last.map { " \(HTML.percent($0.test.top5)) |" } ?? "")

                ### Inference on \(HTML.count(dataset.rows)) Images

                Weights of the chosen epoch \(h.bestEpoch)\(last.map { _ in " and, beside them, of the last epoch \(h.epochs)" } ?? ""); predictions.tsv has the chosen epoch's.

                | Confidence Level | Count (epoch \(h.bestEpoch)) | Percent |\(last.map { _ in " Count (epoch \(h.epochs), last) | Percent |" } ?? "")
                |-----------------|-------|---------|\(last.map { _ in "-------|---------|" } ?? "")
                \(row("High (>0.9)", "high"))
                \(row("Medium (0.5-0.9)", "medium"))
                \(row("Low (<0.5)", "low"))

                *Note: Low confidence expected on distractors (different identities)*

                """
        } else {
            md += "Not run (pass `--head`).\n"
        }
        md += "\n---\n\n## Summary Table\n\n" + summaryTable() + "\n"
        md += "---\n\n## Files Generated\n\n"
        if let files, !files.isEmpty {
            md += "| File | Description |\n|------|-------------|\n"
            for f in files { md += "| `\(f.name)` | \(f.description) |\n" }
        } else {
            md += "Not recorded (this report was not written by `magfleet reduce`).\n"
        }
        md += "\n---\n\n## Commands to Reproduce\n\n"
        if let commands, !commands.isEmpty {
            md += "```bash\n" + commands.joined(separator: "\n") + "\n```\n"
        } else {
            md += "Not recorded.\n"
        }
        return md
    }

    /// report.md's model line: architecture, fingerprint, preprocessing, and whether the weights
    /// were random (in bold capitals).
    static func describe(_ m: Model) -> String {
        guard m.isRecorded else { return "not recorded (imported features)" }
        let weights = m.randomWeights ? "**RANDOM WEIGHTS: these numbers say nothing about face recognition**" : "trained weights"
        return "\(m.architecture), fingerprint `\(m.fingerprint)`, preprocessing \(m.preset)\(m.flip ? "+flip" : ""); \(weights)"
    }

    /// The summary table, as printed by `magfleet reduce`. Its first row says RANDOM WEIGHTS
    /// when the model's weights were random.
    public func summaryTable() -> String {
        var rows: [(String, String, String, String)] = []
        if let m = model, m.randomWeights {
            rows.append(("Model", m.architecture, "Weights", "RANDOM WEIGHTS: not a face recognizer"))
        }
        rows += [
            ("Embedding Similarity", "Verification", "ROC-AUC", HTML.number(verification.auc, 4)),
            ("Embedding Similarity", "Verification", "Best Accuracy", HTML.percent(verification.bestAccuracy)),
            ("Embedding Similarity", "Identification", "Rank-1", HTML.percent(identification.rank1)),
        ]
        if let p = pairs {
            rows.append(("Pair Verification", "Classification", "Accuracy", HTML.percent(p.accuracy, 1)))
            rows.append(("Pair Verification", "Classification", "Precision", HTML.percent(p.precision, 1)))
        }
        if let h = head { rows.append(("Classification Head", "Identity", "Top-1 Accuracy", HTML.percent(h.test.top1))) }
        var md = "| Pipeline | Task | Metric | Value |\n|----------|------|--------|-------|\n"
        for r in rows { md += "| \(r.0) | \(r.1) | \(r.2) | **\(r.3)** |\n" }
        return md
    }
}
