import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as r,c as t,d as m}from"./chunks/chunk-MBN5AIFE.js";import"./chunks/chunk-6AQUS4QI.js";import{t as o}from"./chunks/chunk-CKZ5PVQL.js";import"./chunks/chunk-BDVI4OGD.js";import"./chunks/chunk-67BG23Y2.js";var i=r(process.env);o(i);await m(i,()=>t());
