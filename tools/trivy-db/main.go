// Command cloudshop-trivy-db builds a Trivy vulnerability database from a
// RustSec advisory-db checkout, offline: the `db/trivy.db` and
// `db/metadata.json` that `trivy --cache-dir DIR --skip-db-update` reads.
//
// Trivy's published database (ghcr.io/aquasecurity/trivy-db) cannot be
// fetched here, and trivy-db has no RustSec source of its own any more, so
// this writes one with trivy-db's own packages: every vulnerability advisory
// of `crates/<name>/RUSTSEC-*.md` (informational notices and withdrawn
// advisories left out, as `cargo deny` and our VEX do) goes to the
// `cargo::RustSec Advisory Database` bucket under its RUSTSEC id, with its
// `patched` and `unaffected` requirements as they are (Trivy's Cargo matcher
// reads them as constraints: vulnerable = neither patched nor unaffected;
// with neither, every version: `>= 0`),
// its aliases as vendor ids, and its CVSS (v3 or v4.0) vector and score,
// from which Trivy derives the severity (no vector: UNKNOWN).
//
//	cloudshop-trivy-db --advisory-db DIR --cache-dir DIR
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
	bolt "go.etcd.io/bbolt"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulndb"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/bucket"
)

const sourceID types.SourceID = "rustsec"

var dataSource = types.DataSource{
	ID:   sourceID,
	Name: "RustSec Advisory Database",
	URL:  "https://github.com/RustSec/advisory-db",
}

// front is the TOML block at the top of an advisory file.
type front struct {
	Advisory struct {
		ID            string   `toml:"id"`
		Package       string   `toml:"package"`
		Date          string   `toml:"date"`
		URL           string   `toml:"url"`
		References    []string `toml:"references"`
		Aliases       []string `toml:"aliases"`
		CVSS          string   `toml:"cvss"`
		Informational string   `toml:"informational"`
		Withdrawn     string   `toml:"withdrawn"`
	} `toml:"advisory"`
	Versions struct {
		Patched    []string `toml:"patched"`
		Unaffected []string `toml:"unaffected"`
	} `toml:"versions"`
}

// advisory is one parsed advisory file.
type advisory struct {
	front
	title, description string
}

// rustsec is the vulnsrc.VulnSrc that reads the advisory-db at root.
type rustsec struct {
	root    string
	written *[]advisory
}

func (rustsec) Name() types.SourceID { return sourceID }

func (r rustsec) Update(string) error {
	var files []string
	err := filepath.WalkDir(filepath.Join(r.root, "crates"), func(path string, entry fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !entry.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading %s: %w", r.root, err)
	}
	sort.Strings(files)
	bkt, err := bucket.NewCargo(dataSource)
	if err != nil {
		return err
	}
	dbc := db.Config{}
	return dbc.BatchUpdate(func(tx *bolt.Tx) error {
		if err := dbc.PutDataSource(tx, bkt.Name(), dataSource); err != nil {
			return err
		}
		for _, path := range files {
			adv, err := parse(path)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			if adv.Advisory.Informational != "" || adv.Advisory.Withdrawn != "" {
				continue
			}
			if err := put(dbc, tx, bkt.Name(), adv); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			*r.written = append(*r.written, adv)
		}
		return nil
	})
}

func put(dbc db.Config, tx *bolt.Tx, bucketName string, adv advisory) error {
	a := adv.Advisory
	if a.ID == "" || a.Package == "" {
		return fmt.Errorf("no id or package")
	}
	record := types.Advisory{
		VendorIDs:          a.Aliases,
		PatchedVersions:    adv.Versions.Patched,
		UnaffectedVersions: adv.Versions.Unaffected,
	}
	// No patched and no unaffected version: RustSec means every version is
	// vulnerable; Trivy, given no version at all, would match none.
	if len(record.PatchedVersions) == 0 && len(record.UnaffectedVersions) == 0 {
		record.VulnerableVersions = []string{">= 0"}
	}
	err := dbc.PutAdvisoryDetail(tx, a.ID, a.Package, []string{bucketName}, record)
	if err != nil {
		return err
	}
	detail := types.VulnerabilityDetail{
		ID:          a.ID,
		Title:       adv.title,
		Description: adv.description,
		References:  append([]string{fmt.Sprintf("https://rustsec.org/advisories/%s.html", a.ID)}, a.References...),
	}
	if a.URL != "" {
		detail.References = append(detail.References, a.URL)
	}
	switch {
	case strings.HasPrefix(a.CVSS, "CVSS:4.0/"):
		cvss, err := gocvss40.ParseVector(a.CVSS)
		if err != nil {
			return fmt.Errorf("CVSS vector %q: %w", a.CVSS, err)
		}
		detail.CvssVectorV40, detail.CvssScoreV40 = a.CVSS, cvss.Score()
	case a.CVSS != "":
		score, err := baseScore(a.CVSS)
		if err != nil {
			return err
		}
		detail.CvssVectorV3, detail.CvssScoreV3 = a.CVSS, score
	}
	if published, err := time.Parse("2006-01-02", a.Date); err == nil {
		detail.PublishedDate = &published
	}
	if err := dbc.PutVulnerabilityDetail(tx, a.ID, sourceID, detail); err != nil {
		return err
	}
	return dbc.PutVulnerabilityID(tx, a.ID)
}

func baseScore(vector string) (float64, error) {
	switch {
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		cvss, err := gocvss31.ParseVector(vector)
		if err != nil {
			return 0, fmt.Errorf("CVSS vector %q: %w", vector, err)
		}
		return cvss.BaseScore(), nil
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		cvss, err := gocvss30.ParseVector(vector)
		if err != nil {
			return 0, fmt.Errorf("CVSS vector %q: %w", vector, err)
		}
		return cvss.BaseScore(), nil
	default:
		return 0, fmt.Errorf("CVSS vector %q is not CVSS 3.0, 3.1 or 4.0", vector)
	}
}

// parse reads an advisory file: a ```toml block first, then Markdown whose
// first heading is the title and the rest the description.
func parse(path string) (advisory, error) {
	var adv advisory
	file, err := os.Open(path)
	if err != nil {
		return adv, err
	}
	defer file.Close()
	var block, description strings.Builder
	inBlock, started := false, false
	scanner := bufio.NewScanner(file)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		line := scanner.Text()
		switch {
		case !started && strings.HasPrefix(line, "```toml"):
			inBlock, started = true, true
		case inBlock && strings.HasPrefix(line, "```"):
			inBlock = false
		case inBlock:
			block.WriteString(line + "\n")
		case adv.title == "" && strings.HasPrefix(line, "# "):
			adv.title = strings.TrimSpace(line[2:])
		case adv.title != "":
			description.WriteString(line + "\n")
		}
	}
	if err := scanner.Err(); err != nil {
		return adv, err
	}
	if !started || inBlock {
		return adv, fmt.Errorf("no closed ```toml block")
	}
	if _, err := toml.Decode(block.String(), &adv.front); err != nil {
		return adv, fmt.Errorf("the advisory's TOML: %w", err)
	}
	adv.description = strings.TrimSpace(description.String())
	return adv, nil
}

func main() {
	advisoryDB := flag.String("advisory-db", "", "a RustSec advisory-db checkout (its crates/ folder)")
	cacheDir := flag.String("cache-dir", "", "Trivy's cache directory; the database goes to its db/ folder")
	flag.Parse()
	if *advisoryDB == "" || *cacheDir == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: cloudshop-trivy-db --advisory-db DIR --cache-dir DIR")
		os.Exit(2)
	}
	if err := run(*advisoryDB, *cacheDir); err != nil {
		fmt.Fprintf(os.Stderr, "cloudshop-trivy-db: %v\n", err)
		os.Exit(1)
	}
}

func run(advisoryDB, cacheDir string) error {
	if _, err := os.Stat(filepath.Join(advisoryDB, "crates")); err != nil {
		return fmt.Errorf("no RustSec advisory database at %s: %w", advisoryDB, err)
	}
	dbDir := filepath.Join(cacheDir, "db")
	// A new database each time: what the snapshot says now, nothing older.
	if err := os.Remove(db.Path(dbDir)); err != nil && !os.IsNotExist(err) {
		return err
	}
	if err := db.Init(dbDir); err != nil {
		return err
	}
	defer db.Close()
	var written []advisory
	source := rustsec{root: advisoryDB, written: &written}
	build := vulndb.New(advisoryDB, dbDir, 24*time.Hour,
		vulndb.WithVulnSrcs(map[types.SourceID]vulnsrc.VulnSrc{sourceID: source}))
	if err := build.Build([]string{string(sourceID)}); err != nil {
		return err
	}
	if err := fillIn(written); err != nil {
		return err
	}
	fmt.Printf("%d RustSec advisories in %s\n", len(written), db.Path(dbDir))
	return nil
}

// fillIn gives each vulnerability the title, description and severity that
// trivy-db's build takes only from the sources it ranks (RustSec is not
// one of them): without this Trivy would print no title and fall back on
// the per-source severity alone.
func fillIn(written []advisory) error {
	dbc := db.Config{}
	vulns := make(map[string]types.Vulnerability, len(written))
	for _, adv := range written {
		vuln, err := dbc.GetVulnerability(adv.Advisory.ID)
		if err != nil {
			return err
		}
		vuln.Title, vuln.Description = adv.title, adv.description
		if severity, ok := vuln.VendorSeverity[sourceID]; ok {
			vuln.Severity = severity.String()
		}
		vulns[adv.Advisory.ID] = vuln
	}
	return dbc.BatchUpdate(func(tx *bolt.Tx) error {
		for id, vuln := range vulns {
			if err := dbc.PutVulnerability(tx, id, vuln); err != nil {
				return err
			}
		}
		return nil
	})
}
