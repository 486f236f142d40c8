import ArgumentParser
import NN
import Train

// The word-valued settings as flag values: the parser accepts only their words, and lists them
// (in --help and in the error for any other word).
extension ScheduleKind: ExpressibleByArgument {}
extension TrainingPrecision: ExpressibleByArgument {}
extension DeviceChoice: ExpressibleByArgument {}
extension Augmentation: ExpressibleByArgument {}
extension Initializer: ExpressibleByArgument {}
extension Recipe: ExpressibleByArgument {}
