module github.com/surgehq/surge/services/dispatcher

go 1.26.8
