module github.com/surgehq/surge/services/enrich

go 1.26.8
