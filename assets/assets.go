// Package assets holds the files runbook ships inside its binary: the
// markdown guides of the embedded runbooks and the templates actions
// render. It imports nothing of the project, so any package may use it.
package assets

import (
	"embed"
	"io/fs"
)

// guides is read-only: an embed.FS cannot be changed at run time.
//
//go:embed guides
var guides embed.FS

// Guides returns the guide directory: guide references of the embedded
// runbooks ("item2-tls.md#generate-the-certificates") resolve against it.
func Guides() fs.FS {
	sub, err := fs.Sub(guides, "guides")
	if err != nil {
		// fs.Sub fails only on an invalid path; "guides" is a constant.
		panic("assets: " + err.Error())
	}
	return sub
}

// templates is read-only, like guides.
//
//go:embed templates
var templates embed.FS

// Templates returns the template directory: the files the file.template
// action renders ("nginx/tls.conf.tmpl", "sql/init-extensions.sql.tmpl",
// "env/app.env.tmpl").
func Templates() fs.FS {
	sub, err := fs.Sub(templates, "templates")
	if err != nil {
		// fs.Sub fails only on an invalid path; "templates" is a constant.
		panic("assets: " + err.Error())
	}
	return sub
}

// lab is read-only, like guides.
//
//go:embed lab
var lab embed.FS

// Lab returns the rehearsal lab's recipes: the image build contexts
// ("postgres/", "nginx/", "app/"), the files laid over the debootstrapped
// base root filesystem ("base/rootfs/"), and the workspace's "before" state
// ("workspace/"; "gitignore" stands for .gitignore, which go:embed leaves
// out, and *.tmpl files are text/template files).
func Lab() fs.FS {
	sub, err := fs.Sub(lab, "lab")
	if err != nil {
		// fs.Sub fails only on an invalid path; "lab" is a constant.
		panic("assets: " + err.Error())
	}
	return sub
}
