/// "1 epoch", "2 epochs": a count with its noun in the right number, for what people read.
public func counted(_ count: Int, _ noun: String, plural: String? = nil) -> String {
    "\(count) " + (count == 1 ? noun : plural ?? noun + "s")
}
