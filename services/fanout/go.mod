module github.com/surgehq/surge/services/fanout

go 1.26.8
