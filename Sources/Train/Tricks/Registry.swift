/// The trainer's plug-in tricks, in the order their hooks run (smoothing makes the targets that
/// mixup mixes; distillation replaces the loss). Adding a trick: one file in this folder with
/// a `TrickRegistration`, and one line here; the command line (`tricks train --help`), config
/// files, `tricks recipes` and `tricks ablate` find it through this list.
public enum TrickRegistry {
    public static let registered: [TrickRegistration] = [
        LabelSmoothing.registration,
        AutoAugment.registration,  // in the loader, per image
        RandomErasing.registration,  // per image, before images are mixed (timm's order)
        Mixup.registration,
        Distillation.registration,
        ModelEMA.registration,
    ]

    /// Every plug-in setting, in registration order.
    public static var settings: [any AnySetting] { registered.flatMap(\.settings) }

    /// The setting a command-line flag names (without dashes), if any.
    public static func setting(flag: String) -> (any AnySetting)? { settings.first { $0.flag == flag } }

    /// The plug-in flags with their help, for `--help`: wrapped to `width` columns here, each
    /// description indented under its flag (ArgumentParser would wrap them flush left).
    public static func help(width: Int = 70) -> String {
        registered.map { trick in
            "\(trick.name):\n" + trick.settings.map { s in
                let shown = s.defaultDescription.map { $0.isEmpty ? "off" : $0 }
                return "  --\(s.flag) <value>\n" + wrapped(s.help + (shown.map { " (default: \($0))" } ?? ""), width: width, indent: "      ")
            }.joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// `text` in lines of at most `width` columns (words longer than that stand alone), each
    /// starting with `indent`.
    static func wrapped(_ text: String, width: Int, indent: String) -> String {
        var lines: [String] = [], line = ""
        for word in text.split(separator: " ") {
            if !line.isEmpty && indent.count + line.count + 1 + word.count > width {
                lines.append(indent + line)
                line = ""
            }
            line += (line.isEmpty ? "" : " ") + word
        }
        if !line.isEmpty { lines.append(indent + line) }
        return lines.joined(separator: "\n")
    }
}
