import Foundation
import Testing

/// Every shell script under Deploy/ (by .sh/.sbatch name or a sh/bash #! line) passes
/// shellcheck with its default rules. Deploy/install-deps.sh test installs shellcheck.
@Suite(.enabled(if: which("shellcheck") != nil, "shellcheck is not installed: run `Deploy/install-deps.sh test` (make test-deps)"))
struct ShellcheckTests {
    @Test func theScriptsAreFound() {
        let scripts = Set(DeployTree.shellScripts)
        for expected in ["Deploy/ssh/launch.sh", "Deploy/slurm/magfleet.sbatch", "Deploy/install-deps.sh", "Deploy/demo.sh"] {
            #expect(scripts.contains(expected), "\(expected) not found as a shell script")
        }
    }

    @Test(arguments: DeployTree.shellScripts)
    func passes(_ script: String) throws {
        let shellcheck = try #require(which("shellcheck"))
        // -x follows `source`d files; bash for .sbatch files, which have no extension it knows.
        let result = try runCommand(shellcheck, ["-x", "--shell=bash", script], directory: DeployTree.repository.path, timeout: 60)
        #expect(result.status == 0, "shellcheck \(script):\n\(result.output)")
    }
}
