package caddymdm

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// TestJSONFieldsDocumented: Caddy's module documentation is generated from
// the doc comments of config struct fields, so every exported field with a
// json tag, in every struct type the package declares (config, and the
// admin API's JSON), including struct types nested in them, has a doc
// comment right above it. Anonymous structs inside function bodies are
// local encodings, not declared types, and are not checked.
func TestJSONFieldsDocumented(t *testing.T) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var missing []string
	checked := 0
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if f.Name.Name != "caddymdm" {
			continue
		}
		for _, decl := range f.Decls {
			gen, ok := decl.(*ast.GenDecl)
			if !ok || gen.Tok != token.TYPE {
				continue
			}
			ast.Inspect(gen, func(n ast.Node) bool {
				st, ok := n.(*ast.StructType)
				if !ok {
					return true
				}
				for _, field := range st.Fields.List {
					if !hasJSONTag(field) {
						continue
					}
					for _, name := range fieldNames(field) {
						if !ast.IsExported(name) {
							continue
						}
						checked++
						if field.Doc == nil || strings.TrimSpace(field.Doc.Text()) == "" {
							missing = append(missing, fset.Position(field.Pos()).String()+" "+name)
						}
					}
				}
				return true
			})
		}
	}
	if checked == 0 {
		t.Fatal("no json-tagged fields found: the test no longer looks at the config structs")
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Errorf("%d of %d json config fields have no doc comment (Caddy's docs are generated from them):\n%s",
			len(missing), checked, strings.Join(missing, "\n"))
	}
}

// hasJSONTag reports whether field has a json struct tag other than "-".
func hasJSONTag(field *ast.Field) bool {
	if field.Tag == nil {
		return false
	}
	tag, err := strconv.Unquote(field.Tag.Value)
	if err != nil {
		return false
	}
	v, ok := reflect.StructTag(tag).Lookup("json")
	return ok && v != "-"
}

// fieldNames returns the names a field declares; an embedded field is named
// after its type.
func fieldNames(field *ast.Field) []string {
	if len(field.Names) > 0 {
		names := make([]string, len(field.Names))
		for i, n := range field.Names {
			names[i] = n.Name
		}
		return names
	}
	typ := field.Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	switch x := typ.(type) {
	case *ast.Ident:
		return []string{x.Name}
	case *ast.SelectorExpr:
		return []string{x.Sel.Name}
	}
	return nil
}
