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

    /// The plug-in flags with their help, for `--help`.
    public static var help: String {
        registered.map { trick in
            "\(trick.name):\n" + trick.settings.map { s in
                "  --\(s.flag) <value>  \(s.help)" + (s.defaultDescription.map { " (default: \($0))" } ?? "")
            }.joined(separator: "\n")
        }.joined(separator: "\n")
    }
}
