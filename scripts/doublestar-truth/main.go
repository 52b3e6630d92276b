// Answers "does NAME match PATTERN?" with bmatcuk/doublestar v1.1.1, the glob library Harbor 2.5.5 matches
// immutable-tag and retention selectors with. Reads "PATTERN<TAB>NAME" lines, writes
// "PATTERN<TAB>NAME<TAB>true|false<TAB>error|ok" lines. See README.md beside this file.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/bmatcuk/doublestar"
)

func main() {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	for in.Scan() {
		fields := strings.SplitN(in.Text(), "\t", 2)
		if len(fields) != 2 {
			continue
		}
		matched, err := doublestar.Match(fields[0], fields[1])
		verdict := "ok"
		if err != nil {
			verdict = "error"
		}
		fmt.Fprintf(out, "%s\t%s\t%v\t%s\n", fields[0], fields[1], matched, verdict)
	}
}
