import Foundation

/// The progress line: epoch, step/steps, loss, LR, img/s, ETA. Rewritten in place on a
/// terminal; on a pipe or file, printed every `every` steps and at the end of the epoch.
public struct Progress {
    let isTerminal = isatty(STDOUT_FILENO) == 1
    let every: Int

    public init(every: Int) { self.every = max(1, every) }

    public func update(epoch: Int, epochs: Int, step: Int, steps: Int, loss: Double, lr: Double, imagesPerSecond: Double, eta: Double) {
        let line = String(format: "epoch %d/%d  step %d/%d  loss %.4f  lr %.5f  %.1f img/s  ETA %@",
                          epoch, epochs, step, steps, loss, lr, imagesPerSecond, duration(eta))
        if isTerminal {
            print("\r" + line + "\u{1B}[K", terminator: step == steps ? "\n" : "")
            fflush(nil)
        } else if step % every == 0 || step == steps {
            print(line)
            fflush(nil)
        }
    }
}

/// What the rest of a run should take: the median of its last (up to) 10 epochs, training and
/// validation, times the epochs left. The median, so that one epoch paused (SIGSTOP, a suspended
/// machine) or slowed by another job does not swing it.
public func remainingRunSeconds(epochSeconds: [Double], epochsLeft: Int) -> Double {
    guard epochsLeft > 0, !epochSeconds.isEmpty else { return 0 }
    let recent = epochSeconds.suffix(10).sorted()
    return recent[(recent.count - 1) / 2] * Double(epochsLeft)  // the lower middle: of 2 epochs, the unpaused one
}

/// 3725 -> "1h02m05s".
public func duration(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%dh%02dm%02ds", s / 3600, s % 3600 / 60, s % 60)
        : s >= 60 ? String(format: "%dm%02ds", s / 60, s % 60) : "\(s)s"
}
