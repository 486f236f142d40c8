import Train
import XCTest

/// The run's ETA on each epoch line: the median of the recent epochs times the epochs left.
final class ProgressTests: XCTestCase {
    func testRunETAIsTheRecentMedianTimesTheEpochsLeft() {
        // One epoch paused for 721 s among 49-51 s ones (a SIGSTOP during the test suite) moves it not at all.
        let epochs = [50.0, 49, 721, 51, 50]
        XCTAssertEqual(remainingRunSeconds(epochSeconds: epochs, epochsLeft: 100), 5000)
        XCTAssertEqual(remainingRunSeconds(epochSeconds: [50, 721], epochsLeft: 3), 150, "right after a resume: 2 epochs, one paused")
        // Only the last 10 epochs count: the run got faster after its first ones.
        let faster = Array(repeating: 90.0, count: 20) + Array(repeating: 45.0, count: 10)
        XCTAssertEqual(remainingRunSeconds(epochSeconds: faster, epochsLeft: 2), 90)
        XCTAssertEqual(remainingRunSeconds(epochSeconds: epochs, epochsLeft: 0), 0)
        XCTAssertEqual(remainingRunSeconds(epochSeconds: [], epochsLeft: 3), 0)
    }

    func testDurationReadsAsHoursMinutesSeconds() {
        XCTAssertEqual(duration(3725), "1h02m05s")
        XCTAssertEqual(duration(125), "2m05s")
        XCTAssertEqual(duration(7), "7s")
        XCTAssertEqual(duration(.infinity), "?")
    }
}
